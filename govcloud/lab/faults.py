"""Fault injection for lab hosts (`govcloud lab fault ...`): what DR drills and resilience tests need.

- link_cut / link_restore: the host's veth (machine side, in the bridge) down / up.
- bandwidth(kbit): tc tbf on both directions (machine-side veth egress and the host's own host0 egress).
- loss(percent): nftables `numgen random mod 100 < N drop` in the host's own network namespace (input and
  output), in a table of its own (`gclab_fault`), so the host's own ruleset is untouched.
- clear: removes tbf and the loss table and brings the link up.
- stop / start: orderly poweroff of the container (SIGKILL after a grace period) / boot again with the same disk.
- fill_disk / free_disk: fill the host's disk (its size-limited tmpfs, never the machine's disk) / free it.
- kill(process): SIGKILL every process of that name inside the host.

The machine has no netem: no latency/jitter faults. Netns operations use nsenter into the container's
namespaces, so they work while the link is cut.
"""

from __future__ import annotations

import argparse
import os
import subprocess

from govcloud.errors import UserError
from govcloud.lab.hosts import core, sysutil

FILL_FILE = "var/tmp/.gclab-fill"
NFT_TABLE = "gclab_fault"


def _rec(name: str) -> dict:
    return core.host(name)


def _leader(rec: dict) -> int:
    pid = core.leader(rec)
    if not pid:
        raise UserError(f"lab host {rec['name']}: not running; `govcloud lab fault start {rec['name']}`")
    return pid


def _in_host(rec: dict, *cmd: str, net_only: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command inside the host's namespaces (net_only: the machine's binary in the host's netns)."""
    pid = _leader(rec)
    ns = ["-n"] if net_only else ["-m", "-u", "-i", "-n", "-p", "-r", "-w"]
    r = subprocess.run(["nsenter", "-t", str(pid), *ns, *cmd], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise UserError(f"lab host {rec['name']}: {' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()}")
    return r


def nsexec(name: str, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run argv inside host `name` (all its namespaces) without SSH: works while a fault is active."""
    rec = _rec(name)
    pid = _leader(rec)
    return subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", *argv],
                          capture_output=True, text=True, timeout=timeout)


def link_cut(name: str) -> None:
    sysutil.sh("ip", "link", "set", core.veth(_rec(name)), "down")


def link_restore(name: str) -> None:
    sysutil.sh("ip", "link", "set", core.veth(_rec(name)), "up")


def bandwidth(name: str, kbit: int) -> None:
    """Limit throughput in both directions to `kbit` kbit/s (token bucket filter)."""
    kbit = int(kbit)
    if kbit <= 0:
        raise UserError("bandwidth: kbit must be > 0")
    rec = _rec(name)
    burst = max(2, kbit // 8 // 10)  # ~100 ms worth, at least 2 KiB
    tbf = ["tbf", "rate", f"{kbit}kbit", "burst", f"{burst}kb", "latency", "400ms"]
    sysutil.sh("tc", "qdisc", "replace", "dev", core.veth(rec), "root", *tbf)
    _in_host(rec, "tc", "qdisc", "replace", "dev", "host0", "root", *tbf, net_only=True)


def loss(name: str, percent: int) -> None:
    """Drop `percent` % of the host's packets, in and out."""
    percent = int(percent)
    if not 0 <= percent <= 100:
        raise UserError("loss: percent must be 0..100")
    rec = _rec(name)
    _clear_loss(rec)
    if percent == 0:
        return
    script = (f"table inet {NFT_TABLE} {{\n"
              f"  chain in {{ type filter hook input priority -300; numgen random mod 100 < {percent} drop; }}\n"
              f"  chain out {{ type filter hook output priority -300; numgen random mod 100 < {percent} drop; }}\n"
              "}\n")
    pid = _leader(rec)
    r = subprocess.run(["nsenter", "-t", str(pid), "-m", "-n", "-r", "-w", "nft", "-f", "-"], input=script,
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise UserError(f"lab host {name}: nft failed: {r.stderr.strip()}")


def _clear_loss(rec: dict) -> None:
    _in_host(rec, "nft", "delete", "table", "inet", NFT_TABLE, check=False)


def clear(name: str) -> None:
    """Undo link, bandwidth and loss faults (disk and stopped hosts have their own undo)."""
    rec = _rec(name)
    if sysutil.link_exists(core.veth(rec)):
        sysutil.sh("tc", "qdisc", "del", "dev", core.veth(rec), "root", check=False)
        sysutil.sh("ip", "link", "set", core.veth(rec), "up")
    if core.leader(rec):
        _in_host(rec, "tc", "qdisc", "del", "dev", "host0", "root", net_only=True, check=False)
        _clear_loss(rec)


def stop(name: str) -> None:
    with core.locked():
        st = core.load()
        rec = core.host(name, st)
        core.stop_container(rec)
        from govcloud.lab.hosts import inventory

        inventory.write(st)
        core.save(st)


def start(name: str, timeout: float = 60) -> None:
    with core.locked():
        st = core.load()
        rec = core.host(name, st)
        if core.running(rec):
            return
        core.mount_node(rec)
        core.start_container(rec)
        core.save(st)
    core.wait_ssh([name], timeout=timeout)
    if rec["role"] == "site":
        from govcloud.lab.hosts import sites

        sites.wait_ready({"hosts": {name: rec}})
    core.mark_running([name])


def _disk(rec: dict):
    return core.node_dir(rec["name"]) / "disk"


def fill_disk(name: str) -> dict:
    """Fill the host's disk (its tmpfs upper layer) until writes fail with ENOSPC."""
    rec = _rec(name)
    merged = core.node_dir(name) / "merged"
    if not sysutil.is_mounted(merged):
        raise UserError(f"lab host {name}: its disk is not mounted")
    target = merged / FILL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    free = os.statvfs(_disk(rec))
    size = free.f_bavail * free.f_frsize
    with open(target, "ab") as f:
        try:
            if size > 0:
                os.posix_fallocate(f.fileno(), f.tell(), size)
        except OSError:
            pass
        chunk = b"\0" * (1 << 20)
        while True:  # top up what fallocate left (tmpfs rounding)
            try:
                f.write(chunk)
                f.flush()
            except OSError:
                break
            if len(chunk) > 4096 and os.statvfs(_disk(rec)).f_bavail == 0:
                chunk = b"\0" * 4096
    avail = os.statvfs(_disk(rec))
    return {"host": name, "filled_bytes": target.stat().st_size, "free_bytes": avail.f_bavail * avail.f_frsize}


def free_disk(name: str) -> None:
    rec = _rec(name)
    (core.node_dir(rec["name"]) / "merged" / FILL_FILE).unlink(missing_ok=True)


def kill(name: str, process: str) -> int:
    """SIGKILL every process named `process` in the host; returns how many were killed."""
    rec = _rec(name)
    pids = _in_host(rec, "pgrep", "-x", process, check=False).stdout.split()
    if not pids:
        raise UserError(f"lab host {name}: no process named {process!r}")
    _in_host(rec, "pkill", "-KILL", "-x", process, check=False)
    return len(pids)


# ---------------------------------------------------------------- CLI

def _handler(fn, *fields):
    def handler(args: argparse.Namespace) -> int:
        out = fn(args.host, *(getattr(args, f) for f in fields))
        print(f"{fn.__name__} {args.host}" + (f": {out}" if out is not None else ""))
        return 0

    return handler


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="fault_command", metavar="FAULT", required=True)
    for fn, help_, extra in (
        (link_cut, "cut the host's network link", None),
        (link_restore, "restore the link", None),
        (bandwidth, "limit bandwidth (tc tbf, both directions)", ("kbit", int)),
        (loss, "drop a share of packets (nftables numgen)", ("percent", int)),
        (clear, "remove link/bandwidth/loss faults", None),
        (stop, "stop the host", None),
        (start, "start a stopped host", None),
        (fill_disk, "fill the host's disk (ENOSPC)", None),
        (free_disk, "free what fill-disk wrote", None),
        (kill, "SIGKILL a named process in the host", ("process", str)),
    ):
        p = sub.add_parser(fn.__name__.replace("_", "-"), help=help_)
        p.add_argument("host")
        if extra:
            p.add_argument(extra[0], type=extra[1])
            p.set_defaults(func=_handler(fn, extra[0]))
        else:
            p.set_defaults(func=_handler(fn))


__all__ = ["nsexec", "link_cut", "link_restore", "bandwidth", "loss", "clear", "stop", "start", "fill_disk",
           "free_disk", "kill"]
