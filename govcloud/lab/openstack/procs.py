"""PID bookkeeping for the lab's processes.

Each service runs in its own session (start_new_session), so its session id is the recorded PID: every
descendant (uwsgi workers, oslo.service children, Erlang helpers) keeps that session even after its parent
dies, and `stop` kills the whole session. A pid file records the PID and its start time (against PID reuse).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = raw[raw.rfind(")") + 2:].split()
    return rest  # rest[0] = state (field 3), rest[3] = session (field 6), rest[19] = starttime (field 22)


def start_time(pid: int) -> int | None:
    st = _stat(pid)
    return int(st[19]) if st else None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def alive(pid: int, started: int | None = None) -> bool:
    """True if `pid` runs (not a zombie) and, when given, started at `started` (clock ticks since boot)."""
    _reap(pid)
    st = _stat(pid)
    if not st or st[0] in ("Z", "X"):
        return False
    return started is None or int(st[19]) == started


def pidfile(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.json"


def read(run_dir: Path, name: str) -> dict | None:
    try:
        return json.loads(pidfile(run_dir, name).read_text())
    except (OSError, ValueError):
        return None


def recorded(run_dir: Path) -> dict[str, dict]:
    out = {}
    if run_dir.is_dir():
        for f in sorted(run_dir.glob("*.json")):
            try:
                out[f.stem] = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
    return out


def running(run_dir: Path, name: str) -> bool:
    rec = read(run_dir, name)
    return bool(rec) and alive(rec["pid"], rec.get("started"))


def start(run_dir: Path, name: str, argv: list[str], env: dict[str, str], log: Path,
          cwd: Path | None = None, meta: dict | None = None) -> int:
    """Start `argv` detached in its own session, output appended to `log`; record its PID."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} starting {name}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=str(cwd) if cwd else None, start_new_session=True, close_fds=True)
    rec = {"pid": proc.pid, "started": start_time(proc.pid), "argv": argv, "log": str(log), **(meta or {})}
    tmp = pidfile(run_dir, name).with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    tmp.replace(pidfile(run_dir, name))
    return proc.pid


def session_members(sids: set[int]) -> dict[int, int]:
    """{pid: sid} of every live process whose session id is in `sids`."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st and st[0] not in ("Z", "X") and int(st[3]) in sids:
            out[int(entry.name)] = int(st[3])
    return out


def marked(marker: str) -> set[int]:
    """PIDs whose environment carries GOVCLOUD_OSLAB=<marker> (catches processes that left the session)."""
    needle = f"GOVCLOUD_OSLAB={marker}\0".encode()
    out = set()
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                if needle in f.read():
                    out.add(int(entry.name))
        except OSError:
            continue
    return out


def lab_marker_of(pids: set[int]) -> str | None:
    """The GOVCLOUD_OSLAB value (a lab's state dir) in the environment of any of `pids`, if one has it."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                for item in f.read().split(b"\0"):
                    if item.startswith(b"GOVCLOUD_OSLAB="):
                        return item.split(b"=", 1)[1].decode(errors="replace")
        except OSError:
            continue
    return None


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_pids(pids: set[int], timeout: float = 15.0) -> None:
    """SIGTERM, wait up to `timeout`, then SIGKILL whatever is left."""
    pids = {p for p in pids if alive(p)}
    if not pids:
        return
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = {p for p in pids if alive(p)}
        if not pids:
            return
        time.sleep(0.2)
    _signal_all(pids, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)


def stop(run_dir: Path, name: str, timeout: float = 15.0) -> None:
    """Stop a recorded service and every process of its session; forget its pid file."""
    rec = read(run_dir, name)
    if rec:
        pids = set(session_members({rec["pid"]}))
        if alive(rec["pid"], rec.get("started")):
            pids.add(rec["pid"])
        stop_pids(pids, timeout)
    pidfile(run_dir, name).unlink(missing_ok=True)


def listening_ports() -> dict[int, set[int]]:
    """{port: {socket inodes}} of TCP sockets in LISTEN state (IPv4 and IPv6)."""
    out: dict[int, set[int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A":
                port = int(parts[1].rsplit(":", 1)[1], 16)
                out.setdefault(port, set()).add(int(parts[9]))
    return out


def socket_owners(inodes: set[int]) -> set[int]:
    """PIDs holding any of the socket `inodes`."""
    want = {f"socket:[{i}]" for i in inodes}
    out = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                try:
                    if os.readlink(fd.path) in want:
                        out.add(int(entry.name))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return out


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
