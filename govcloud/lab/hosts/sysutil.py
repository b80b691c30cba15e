"""Machine-side plumbing for lab hosts: processes, mounts, links. Every function is safe to call again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path


def sh(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: rc {r.returncode}: {(r.stderr or r.stdout).strip()[-500:]}")
    return r


# ---------------------------------------------------------------- processes

def proc_starttime(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int | None, starttime: int | None = None) -> bool:
    if not pid:
        return False
    st = proc_starttime(pid)
    if st is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        return False
    return starttime is None or st == starttime


def process_table() -> dict[int, int]:
    """pid -> ppid for every process."""
    table: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        table[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def descendants(pid: int, table: dict[int, int] | None = None) -> list[int]:
    table = table if table is not None else process_table()
    children: dict[int, list[int]] = {}
    for p, pp in table.items():
        children.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def container_leader(nspawn_pid: int, table: dict[int, int] | None = None) -> int | None:
    """The container's PID 1 (systemd), as seen from the machine: the descendant of systemd-nspawn whose
    innermost PID is 1."""
    for p in descendants(nspawn_pid, table):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("NSpid:"):
                    ids = line.split()[1:]
                    if len(ids) >= 2 and ids[-1] == "1":
                        return p
        except OSError:
            continue
    return None


def pss_kib(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError):
            continue
    return total


def pids_under(path: Path) -> list[int]:
    """Processes whose root directory, working directory or command line lies under `path`
    (container processes, systemd-nspawn itself, helpers): what `down` must kill even without state."""
    prefix = str(path).rstrip("/") + "/"
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        hit = False
        for link in ("root", "cwd"):
            try:
                target = os.readlink(f"/proc/{d}/{link}")
            except OSError:
                continue
            if (target + "/").startswith(prefix):
                hit = True
        if not hit:
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            hit = "systemd-nspawn" in cmd and prefix in cmd
        if not hit:
            hit = _container_root_under(d, prefix)
        if hit:
            out.append(int(d))
    return out


def _container_root_under(pid: str, prefix: str) -> bool:
    """A process in a container whose systemd-nspawn is gone: seen from here its root is "/" (the
    container's mount namespace pivoted into the overlay), but its root mount names our overlay dirs."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if not any(ln.startswith("NSpid:") and len(ln.split()) > 2 for ln in status.splitlines()):
            return False
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            f = line.split()
            if len(f) > 4 and f[4] == "/":
                return prefix in line
    except OSError:
        return False
    return False


def cgroup_pids(tops: list[Path]) -> list[int]:
    """Every process in the cgroup trees `tops` (a lab instance's cgroups)."""
    out: set[int] = set()
    for t in tops:
        if not t.is_dir():
            continue
        for procs in t.rglob("cgroup.procs"):
            try:
                out.update(int(x) for x in procs.read_text().split())
            except (OSError, ValueError):
                continue
    out.discard(os.getpid())
    return sorted(out)


def kill_all(pids: list[int], grace: float = 3.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left and wait until it is gone."""
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    for p in pids:
        if alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    _reap()


def _reap() -> None:
    """Collect our own exited children (systemd-nspawn started by this process) so they leave no zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------- mounts

def mounts_under(path: Path) -> list[str]:
    """Mount points at or under `path` in this mount namespace, deepest first."""
    prefix = str(path).rstrip("/")
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        mp = line.split()[4].replace("\\040", " ")
        if mp == prefix or mp.startswith(prefix + "/"):
            out.append(mp)
    return sorted(set(out), key=lambda m: m.count("/"), reverse=True)


def umount_all(path: Path) -> None:
    for _ in range(5):
        mps = mounts_under(path)
        if not mps:
            return
        for mp in mps:
            if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True)


def is_mounted(path: Path) -> bool:
    return str(path).rstrip("/") in {m for m in mounts_under(path)}


# ---------------------------------------------------------------- links

def links() -> list[str]:
    r = sh("ip", "-o", "link", "show", check=False)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            out.append(parts[1].strip().split("@")[0])
    return out


def link_masters() -> dict[str, str | None]:
    """link name -> the bridge it is enslaved to (or None)."""
    r = sh("ip", "-o", "link", "show", check=False)
    out: dict[str, str | None] = {}
    for line in r.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 3:
            continue
        m = re.search(r" master (\S+)", parts[2])
        out[parts[1].strip().split("@")[0]] = m.group(1) if m else None
    return out


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def ensure_bridge(name: str, address_cidr: str) -> None:
    if not link_exists(name):
        sh("ip", "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0", check=False)
    r = sh("ip", "-o", "-4", "addr", "show", "dev", name, check=False)
    if address_cidr.split("/")[0] + "/" not in r.stdout:
        sh("ip", "addr", "add", address_cidr, "dev", name, check=False)
    sh("ip", "link", "set", name, "up")


def delete_link(name: str) -> None:
    if link_exists(name):
        sh("ip", "link", "del", name, check=False)
