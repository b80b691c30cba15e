"""Lab host lifecycle: systemd-nspawn containers with systemd as init, one shared read-only Debian 12
rootfs under overlayfs, a per-host upper dir on a size-limited tmpfs (the host's "disk": fillable
without touching the machine's disk), one veth per host into a bridge in the root namespace.

State lives in `state_dir()/lab/hosts/` (state.json, per-lab SSH key, fresh known_hosts, per-host dirs).
Every mutation holds one file lock, so helpers may add and remove their own hosts concurrently; waiting
for SSH happens outside the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from govcloud.errors import UserError
from govcloud.lab.hosts import rootfs, sysutil
from govcloud.paths import REPO, state_dir, venv_bin

# Overridable so a second, isolated instance can run beside the shared lab (tests of the lifecycle).
BRIDGE = os.environ.get("GOVCLOUD_LAB_BRIDGE", "gclab0")
NETWORK = ipaddress.ip_network(os.environ.get("GOVCLOUD_LAB_NETWORK", "10.250.0.0/24"))
GATEWAY = str(NETWORK.network_address + 1)
DEFAULT_COUNT = 4
DEFAULT_DISK_MIB = 1024
SSH_READY_TIMEOUT = 90.0
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# systemd-nspawn --network-bridge names the machine side of the veth "vb-<machine>"; machines are "gc<vid>"
VETH_HOST = "vb-gc"
BACKUP_IF = "backup0"  # a server host's NIC on the DR sites' network (see create)
SUBNET_BRIDGE = os.environ.get("GOVCLOUD_LAB_SUBNET_BRIDGE_PREFIX", "gcs")
# binaries from the toolchain bound read-only into every host (hosts have no internet)
TOOL_BINARIES = ("restic", "rest-server")

_tlock = threading.RLock()
_depth = 0
_lockfile = None


def base() -> Path:
    return state_dir() / "lab" / "hosts"


def nodes_dir() -> Path:
    return base() / "nodes"


def key_path() -> Path:
    return base() / "id_ed25519"


def known_hosts_path() -> Path:
    return base() / "known_hosts"


def inventory_path() -> Path:
    return Path(os.environ.get("GOVCLOUD_LAB_INVENTORY", REPO / "inventories" / "lab" / "hosts.yml"))


def _log(msg: str) -> None:
    print(f"[lab-hosts] {msg}", flush=True)


@contextlib.contextmanager
def locked():
    """The lab-hosts lock: a file lock across processes, reentrant within one process."""
    global _depth, _lockfile
    with _tlock:
        if _depth == 0:
            base().mkdir(parents=True, exist_ok=True)
            _lockfile = open(base() / "lock", "w")  # noqa: SIM115
            fcntl.flock(_lockfile, fcntl.LOCK_EX)
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
            if _depth == 0:
                fcntl.flock(_lockfile, fcntl.LOCK_UN)
                _lockfile.close()
                _lockfile = None


# ---------------------------------------------------------------- state

def load() -> dict:
    try:
        st = json.loads((base() / "state.json").read_text())
    except (OSError, ValueError):
        st = {}
    st.setdefault("hosts", {})
    st.setdefault("bridges", {})
    return st


def save(st: dict) -> None:
    base().mkdir(parents=True, exist_ok=True)
    tmp = base() / f"state.json.tmp{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(json.dumps(st, indent=1, sort_keys=True))
    tmp.rename(base() / "state.json")


def host(name: str, st: dict | None = None) -> dict:
    st = st if st is not None else load()
    rec = st["hosts"].get(name)
    if rec is None:
        raise UserError(f"lab host {name}: not in the lab; `govcloud lab hosts status` lists the hosts, "
                        "`add_host(name)` creates one")
    return rec


# ---------------------------------------------------------------- SSH

def ensure_key() -> None:
    if key_path().exists() and key_path().with_suffix(".pub").exists():
        return
    base().mkdir(parents=True, exist_ok=True)
    key_path().unlink(missing_ok=True)
    key_path().with_suffix(".pub").unlink(missing_ok=True)
    sysutil.sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "govcloud-lab", "-f", str(key_path()))
    os.chmod(key_path(), 0o600)


def ssh_options() -> list[str]:
    return ["-i", str(key_path()), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={known_hosts_path()}", "-o", "StrictHostKeyChecking=yes",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2"]


def ssh_argv(name: str) -> list[str]:
    """argv prefix to run a command as root in host `name` (append the remote command)."""
    rec = host(name)
    return ["ssh", *ssh_options(), f"root@{rec['address']}"]


def run(name: str, command, timeout: float = 60, check: bool = True, input: str | None = None
        ) -> subprocess.CompletedProcess:
    """Run `command` (a shell string or an argv list) as root in host `name` over SSH."""
    if not isinstance(command, str):
        command = shlex.join(command)
    r = subprocess.run([*ssh_argv(name), command], capture_output=True, text=True, timeout=timeout,
                       input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, r.args, r.stdout, r.stderr)
    return r


def write_known_hosts(st: dict) -> None:
    lines = []
    for rec in sorted(st["hosts"].values(), key=lambda r: r["name"]):
        for pub in rec.get("hostkeys", []):
            kind, blob = pub.split()[:2]
            lines.append(f"{rec['address']} {kind} {blob}\n")
    tmp = known_hosts_path().with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("".join(lines))
    tmp.rename(known_hosts_path())


# ---------------------------------------------------------------- allocation

def _used_addresses(st: dict) -> set[str]:
    return {r["address"] for r in st["hosts"].values()} | {
        r["backup_address"] for r in st["hosts"].values() if r.get("backup_address")}


def allocate_address(st: dict, preferred: str | None = None) -> str:
    used = _used_addresses(st) | {GATEWAY}
    if preferred and preferred not in used:
        return preferred
    for i in range(100, 251):
        a = str(NETWORK.network_address + i)
        if a not in used:
            return a
    raise UserError("lab hosts: no free address left in 10.250.0.0/24; remove hosts you no longer need")


def _allocate_vid(st: dict) -> int:
    used = {r["vid"] for r in st["hosts"].values()}
    existing = set(sysutil.links())
    for i in range(1, 10000):
        if i not in used and f"{VETH_HOST}{i}" not in existing:
            return i
    raise UserError("lab hosts: no free veth id")


def node_dir(name: str) -> Path:
    return nodes_dir() / name


# ---------------------------------------------------------------- create / start / stop / destroy

def _tool_binaries() -> dict[str, str]:
    out = {}
    for b in TOOL_BINARIES:
        p = venv_bin() / b
        if not p.exists():
            p = REPO / ".venv" / "bin" / b
        if not p.exists() and os.environ.get("GOVCLOUD_LAB_DEV_BIN"):
            p = Path(os.environ["GOVCLOUD_LAB_DEV_BIN"]) / b
        if p.exists():
            out[b] = str(p.resolve())
    return out


def _network_file(rec: dict) -> str:
    return ("[Match]\nName=host0\n\n[Network]\n"
            f"Address={rec['address']}/{rec['prefixlen']}\nGateway={rec['gateway']}\n"
            "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")


def _provision(rec: dict, merged: Path) -> None:
    """Per-host files written into the fresh overlay before the first boot."""
    etc = merged / "etc"
    (etc / "hostname").write_text(rec["hostname"] + "\n")
    (etc / "hosts").write_text(f"127.0.0.1\tlocalhost\n{rec['address']}\t{rec['hostname']}\n"
                               "::1\tlocalhost ip6-localhost ip6-loopback\n")
    (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
    # No consoles or login sessions are needed (SSH only): logind and the gettys would each hold
    # inotify instances, a scarce machine-wide resource (see check_inotify_room).
    units = etc / "systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in ("systemd-logind.service", "console-getty.service", "container-getty@.service", "getty@.service"):
        (units / unit).unlink(missing_ok=True)
        os.symlink("/dev/null", units / unit)
    keys = []
    for kind in ("ed25519", "ecdsa"):
        f = etc / "ssh" / f"ssh_host_{kind}_key"
        sysutil.sh("ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{rec['hostname']}", "-f", str(f))
        keys.append(f.with_suffix(".pub").read_text().strip())
    rec["hostkeys"] = keys
    (etc / "systemd/network").mkdir(parents=True, exist_ok=True)
    (etc / "systemd/network/10-gclab.network").write_text(_network_file(rec))
    if rec.get("backup_address"):
        (etc / "systemd/network/11-gclab-backup.network").write_text(
            f"[Match]\nName={BACKUP_IF}\n\n[Network]\nAddress={rec['backup_address']}/{NETWORK.prefixlen}\n"
            "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
    ssh_dir = merged / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    auth = [key_path().with_suffix(".pub").read_text().strip(), *rec.get("extra_keys", [])]
    (ssh_dir / "authorized_keys").write_text("\n".join(auth) + "\n")
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    for b in rec.get("binaries", {}):
        target = merged / "usr/local/bin" / b  # mount point of the read-only bind
        if not target.exists():
            target.touch(mode=0o755)


def mount_node(rec: dict) -> Path:
    d = node_dir(rec["name"])
    disk, merged = d / "disk", d / "merged"
    disk.mkdir(parents=True, exist_ok=True)
    merged.mkdir(parents=True, exist_ok=True)
    if not sysutil.is_mounted(disk):
        sysutil.sh("mount", "-t", "tmpfs", "-o", f"size={rec['disk_mib']}m,mode=0755", f"gclab-{rec['name']}",
                   str(disk))
    (disk / "upper").mkdir(exist_ok=True)
    (disk / "work").mkdir(exist_ok=True)
    if not sysutil.is_mounted(merged):
        sysutil.sh("mount", "-t", "overlay", "-o",
                   f"lowerdir={rootfs.root()},upperdir={disk / 'upper'},workdir={disk / 'work'}",
                   f"gclab-{rec['name']}", str(merged))
    return merged


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_base() -> str:
    """This lab instance's cgroup directory name (the same in every hierarchy it uses)."""
    import hashlib

    return "gclab-" + hashlib.sha1(str(base()).encode()).hexdigest()[:8]


def _cgroup_hierarchies() -> list[Path]:
    """The hierarchies systemd-nspawn places a container in: the unified one (cgroup v2 or the hybrid
    `unified` mount) and systemd's named v1 hierarchy."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return [h for h in (CGROUP_ROOT / "unified", CGROUP_ROOT / "systemd") if (h / "cgroup.procs").exists()]


def cgroup_dirs(rec: dict) -> list[Path]:
    return [h / cgroup_base() / rec["name"] for h in _cgroup_hierarchies()]


def remove_cgroups(top: list[Path]) -> None:
    """rmdir cgroup trees bottom-up (only empty cgroups can go; errors are ignored)."""
    for t in top:
        if not t.is_dir():
            continue
        dirs = sorted((p for p in t.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for d in [*dirs, t]:
            with contextlib.suppress(OSError):
                d.rmdir()


def start_container(rec: dict) -> None:
    """systemd-nspawn booting systemd, its veth in the host's bridge (returns at once).
    (--network-interface= with our own veth would need udev on the machine: nspawn refuses
    "not initialized" interfaces.)"""
    sysutil.delete_link(veth(rec))
    merged = node_dir(rec["name"]) / "merged"
    cmd = [rootfs.nspawn(), "-q", "-D", str(merged), "-M", f"gc{rec['vid']}", f"--hostname={rec['hostname']}",
           "--register=no", "--keep-unit", f"--network-bridge={rec['bridge']}", "--resolv-conf=off",
           "--timezone=off", "--link-journal=no", "--console=passive", "-b"]
    if rec.get("backup_address"):
        sysutil.delete_link(backup_veth(rec))
        cmd.append(f"--network-veth-extra={backup_veth(rec)}:{BACKUP_IF}")
    for b, src in rec.get("binaries", {}).items():
        cmd.append(f"--bind-ro={src}:/usr/local/bin/{b}")
    # Each host in a cgroup of its own: otherwise every container's systemd shares the same payload
    # cgroups (nspawn without systemd on the machine uses the caller's cgroup).
    cgroups = cgroup_dirs(rec)
    for d in cgroups:
        d.mkdir(parents=True, exist_ok=True)
    wrapper = ['/bin/sh', '-c', 'for d in "$@"; do case "$d" in --) break;; esac; '
               'echo $$ > "$d/cgroup.procs" || exit 97; done; while [ "$1" != -- ]; do shift; done; shift; '
               'exec "$@"', "gclab-start", *map(str, cgroups), "--", *cmd]
    log = open(node_dir(rec["name"]) / "console.log", "ab")  # noqa: SIM115
    p = subprocess.Popen(wrapper, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, close_fds=True)
    log.close()
    rec["pid"] = p.pid
    rec["starttime"] = sysutil.proc_starttime(p.pid)
    rec["state"] = "starting"
    # Popen objects are dropped on purpose: the container outlives this process. Reap it if we are
    # still around when it exits (stop, kill) so no zombie is left behind.
    threading.Thread(target=p.wait, daemon=True).start()
    if rec.get("backup_address"):
        _attach_backup_veth(rec, p)


def backup_veth(rec: dict) -> str:
    """The machine side of a server host's second NIC (on the lab bridge)."""
    return f"vx-gc{rec['vid']}"


def _attach_backup_veth(rec: dict, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """nspawn creates the extra veth while it sets the container up: put its machine side into the lab bridge."""
    name = backup_veth(rec)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name in sysutil.links():
            sysutil.ensure_bridge(BRIDGE, f"{GATEWAY}/{NETWORK.prefixlen}")
            sysutil.sh("ip", "link", "set", name, "master", BRIDGE, "up")
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise UserError(f"lab host {rec['name']}: its backup-network link {name} did not appear; "
                    f"see {node_dir(rec['name']) / 'console.log'}")


def veth(rec: dict) -> str:
    """The machine side of the host's veth (in its bridge)."""
    return f"{VETH_HOST}{rec['vid']}"


def running(rec: dict) -> bool:
    return sysutil.alive(rec.get("pid"), rec.get("starttime"))


def leader(rec: dict) -> int | None:
    if not running(rec):
        return None
    return sysutil.container_leader(rec["pid"])


def stop_container(rec: dict, grace: float = 5.0) -> None:
    """Orderly poweroff (SIGTERM to systemd-nspawn), SIGKILL after `grace` seconds; mounts stay."""
    pids = []
    if running(rec):
        pids.append(rec["pid"])
        pids += sysutil.descendants(rec["pid"])
    pids += [p for p in sysutil.pids_under(node_dir(rec["name"])) if p not in pids]
    pids += [p for p in sysutil.cgroup_pids(cgroup_dirs(rec)) if p not in pids]
    if pids:
        # SIGTERM only to nspawn (it turns it into a container poweroff), the rest are killed after grace
        import signal

        with contextlib.suppress(ProcessLookupError):
            if running(rec):
                os.kill(rec["pid"], signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(sysutil.alive(p) for p in pids):
            time.sleep(0.1)
        sysutil.kill_all([p for p in pids if sysutil.alive(p)], grace=0)
    sysutil.delete_link(veth(rec))
    if rec.get("backup_address"):
        sysutil.delete_link(backup_veth(rec))
    rec["pid"] = None
    rec["starttime"] = None
    rec["state"] = "stopped"


def destroy(rec: dict) -> None:
    stop_container(rec, grace=0.5)
    remove_cgroups(cgroup_dirs(rec))
    d = node_dir(rec["name"])
    sysutil.umount_all(d)
    if not sysutil.mounts_under(d):
        shutil.rmtree(d, ignore_errors=True)


# Every host's systemd holds inotify instances, counted against the machine's per-user limit
# (fs.inotify.max_user_instances, often 128), which we must not raise: the machine is not ours to
# reconfigure. The image masks what it can (logind, gettys: see _provision); this is what is left
# per host (PID 1 and dbus: 6 measured).
INOTIFY_PER_HOST = 6


def inotify_in_use(pids=None) -> int:
    """inotify instances held by `pids` (default: every process on the machine)."""
    dirs = [Path(f"/proc/{p}/fd") for p in pids] if pids is not None else Path("/proc").glob("[0-9]*/fd")
    n = 0
    for fd_dir in dirs:
        try:
            for fd in fd_dir.iterdir():
                try:
                    if os.readlink(fd) == "anon_inode:inotify":
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
    return n


def check_inotify_room(st: dict, name: str) -> None:
    """Refuse to start a host that would not boot for lack of inotify instances (its systemd fails
    with 'Too many open files' and the host half-starts)."""
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return
    # hosts still booting hold only part of their share so far: count what they will hold
    pending = sum(max(0, INOTIFY_PER_HOST - inotify_in_use(sysutil.cgroup_pids(cgroup_dirs(r))))
                  for r in st["hosts"].values() if r.get("state") in ("creating", "starting"))
    in_use = inotify_in_use() + pending
    if in_use + INOTIFY_PER_HOST > limit - 2:
        fits = max(0, (limit - in_use) // INOTIFY_PER_HOST)
        raise UserError(
            f"lab host {name}: no room to start it: {in_use} of {limit} inotify instances "
            f"(fs.inotify.max_user_instances) are in use and a host needs about {INOTIFY_PER_HOST}; "
            f"{fits} more host(s) fit. Remove hosts you no longer need (`govcloud lab hosts remove NAME`) "
            f"or fewer servers in the catalog; raising the limit is the machine owner's decision")


def create(st: dict, name: str, role: str, *, address: str | None = None, prefixlen: int = 24,
           gateway: str = GATEWAY, bridge: str = BRIDGE, hostname: str | None = None,
           disk_mib: int = DEFAULT_DISK_MIB, extra_keys: list[str] | None = None, vars: dict | None = None,
           provision=None, backup_net: bool = False) -> dict:
    """Create and boot a fresh host (call under the lock; save state afterwards). Does not wait for SSH."""
    if not NAME_RE.match(name):
        raise UserError(f"lab host {name!r}: names are lowercase letters, digits and '-', 2-32 chars")
    if name in st["hosts"]:
        destroy(st["hosts"].pop(name))
    check_inotify_room(st, name)
    rec = {"name": name, "role": role, "hostname": hostname or name,
           "address": address or allocate_address(st), "prefixlen": prefixlen, "gateway": gateway,
           "bridge": bridge, "vid": _allocate_vid(st), "disk_mib": int(disk_mib),
           "extra_keys": list(extra_keys or []), "vars": dict(vars or {}), "binaries": _tool_binaries(),
           "created": time.time(), "state": "creating", "pid": None, "starttime": None}
    if backup_net:
        # A second NIC on the lab bridge: the DR sites' network, as a real data centre has a backup
        # network. Tenant subnets are not routed to it (the machine does not forward, and must not be
        # reconfigured to), so this is how a server reaches the same-city and remote sites.
        rec["backup_address"] = allocate_address(st)
    d = node_dir(name)
    sysutil.umount_all(d)
    shutil.rmtree(d, ignore_errors=True)
    st["hosts"][name] = rec
    try:
        merged = mount_node(rec)
        _provision(rec, merged)
        if provision:
            provision(rec, merged)
        sysutil.ensure_bridge(bridge, f"{gateway}/{prefixlen}")
        start_container(rec)
    except Exception:
        st["hosts"].pop(name, None)
        destroy(rec)
        raise
    return rec


def wait_ssh(names: list[str], timeout: float = SSH_READY_TIMEOUT, check=None) -> dict[str, float]:
    """Wait until a root SSH login really works on every host (not just the port); returns seconds per host.
    `check` is an optional shell command that must also succeed (e.g. a service being active)."""
    st = load()
    t0 = time.monotonic()
    pending: dict[str, subprocess.Popen | None] = {n: None for n in names}
    started: dict[str, float] = {}
    ready: dict[str, float] = {}
    cmd = "test ! -e /run/nologin || rm -f /run/nologin; systemctl is-active --quiet ssh.service"
    if check:
        cmd += f" && {check}"
    while pending:
        for n in list(pending):
            p = pending[n]
            if p is None:
                rec = st["hosts"].get(n)
                if rec is None:
                    raise UserError(f"lab host {n}: vanished while starting")
                argv = ["ssh", "-o", "ConnectTimeout=3", *ssh_options(), f"root@{rec['address']}", cmd]
                pending[n] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
                started[n] = time.monotonic()
            elif p.poll() is None and time.monotonic() - started[n] > 25:
                p.kill()  # a login stuck half-way (host still booting): try again
                p.wait()
                pending[n] = None
            elif p.poll() is not None:
                if p.returncode == 0:
                    ready[n] = round(time.monotonic() - t0, 2)
                    del pending[n]
                else:
                    pending[n] = None
                    rec = load()["hosts"].get(n, {})
                    if rec and not running(rec):
                        _kill_pending(pending)
                        log = node_dir(n) / "console.log"
                        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                        raise UserError(f"lab host {n}: systemd-nspawn exited while booting; console log "
                                        f"{log}:\n{tail}")
        if time.monotonic() - t0 > timeout:
            _kill_pending(pending)
            raise UserError(f"lab hosts {', '.join(sorted(pending))}: no SSH login within {timeout:.0f} s; "
                            f"see {nodes_dir()}/<name>/console.log")
        time.sleep(0.25)
    return ready


def _kill_pending(pending: dict) -> None:
    for p in pending.values():
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


def mark_running(names: list[str]) -> None:
    with locked():
        st = load()
        for n in names:
            if n in st["hosts"] and running(st["hosts"][n]):
                st["hosts"][n]["state"] = "running"
        save(st)
        from govcloud.lab.hosts import inventory

        inventory.write(st)


def sweep_orphans(st: dict) -> None:
    """Kill processes, unmount and delete links the state does not account for (after a crash)."""
    known = set(st["hosts"])
    if nodes_dir().exists():
        for d in nodes_dir().iterdir():
            if d.name not in known:
                pids = sorted(set(sysutil.pids_under(d)) | set(sysutil.cgroup_pids(cgroup_dirs({"name": d.name}))))
                if pids:
                    sysutil.kill_all(pids, grace=0.5)
                sysutil.umount_all(d)
                remove_cgroups(cgroup_dirs({"name": d.name}))
                if not sysutil.mounts_under(d):
                    shutil.rmtree(d, ignore_errors=True)
    vids = {str(r["vid"]) for r in st["hosts"].values()}
    ours = {BRIDGE, *st.get("bridges", {})}
    for link, master in sysutil.link_masters().items():
        m = re.fullmatch(f"{VETH_HOST}(\\d+)", link)
        if m and m.group(1) not in vids and master in ours:
            sysutil.delete_link(link)
