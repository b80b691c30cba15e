"""up / down / status / add_host / remove_host: the public lifecycle of the lab hosts."""

from __future__ import annotations

import os
import shutil
import time

from govcloud.errors import UserError
from govcloud.lab.hosts import core, inventory, rootfs, sites, sysutil


def default_count() -> int:
    try:
        return max(0, int(os.environ.get("GOVCLOUD_LAB_HOSTS", core.DEFAULT_COUNT)))
    except ValueError:
        return core.DEFAULT_COUNT


def plain_name(i: int) -> str:
    return f"lab-{i}"


def _ensure_base(st: dict) -> None:
    rootfs.ensure_machine_tools()
    rootfs.nspawn()
    rootfs.ensure()
    if not st["hosts"]:
        # a fresh lab: fresh key and known_hosts
        core.key_path().unlink(missing_ok=True)
        core.key_path().with_suffix(".pub").unlink(missing_ok=True)
    core.ensure_key()
    if not core.known_hosts_path().exists():
        core.known_hosts_path().write_text("")
    sysutil.ensure_bridge(core.BRIDGE, f"{core.GATEWAY}/{core.NETWORK.prefixlen}")


def _recover(st: dict) -> list[str]:
    """Drop recorded hosts whose container is gone (crash, SIGKILL) and anything nobody accounts for.
    Returns the names dropped."""
    dropped = []
    for name, rec in list(st["hosts"].items()):
        if rec.get("state") == "stopped" and sysutil.is_mounted(core.node_dir(name) / "merged"):
            continue  # stopped on purpose (faults.stop): keep
        if not core.running(rec):
            core.destroy(rec)
            del st["hosts"][name]
            dropped.append(name)
    core.sweep_orphans(st)
    return dropped


def up(count: int | None = None) -> dict:
    """Start (or complete) the lab: `count` plain hosts lab-1..lab-N plus the two DR sites. Idempotent;
    recovers a half-started or crashed lab. Returns when every host accepts SSH logins."""
    count = default_count() if count is None else int(count)
    t0 = time.monotonic()
    with core.locked():
        st = core.load()
        dropped = _recover(st)
        if dropped:
            core._log(f"recovered: dropped dead hosts {', '.join(dropped)}")
        _ensure_base(st)
        created = []
        for i in range(1, count + 1):
            name = plain_name(i)
            rec = st["hosts"].get(name)
            if rec and (core.running(rec) or rec.get("state") == "stopped"):
                continue
            core.create(st, name, "host", address=str(core.NETWORK.network_address + 10 + i))
            created.append(name)
        for name, rec in list(st["hosts"].items()):
            if rec["role"] == "host" and name.startswith("lab-") and name[4:].isdigit() and int(name[4:]) > count:
                core.destroy(st["hosts"].pop(name))
        created += sites.ensure(st)
        core.write_known_hosts(st)
        core.save(st)
        # also wait for hosts another process started and is still waiting for
        waiting = [n for n, r in st["hosts"].items()
                   if r["role"] in ("host", "site") and r.get("state") == "starting"]
    if waiting:
        ready = core.wait_ssh(waiting)
        sites.wait_ready(core.load())
        core.mark_running(waiting)
        core._log(f"{len(waiting)} hosts answer SSH {max(ready.values()):.1f} s after start "
                  f"(up took {time.monotonic() - t0:.1f} s)")
    else:
        with core.locked():
            inventory.write(core.load())
    return status()


def add_host(name: str, role: str = "host", *, disk_mib: int | None = None, mlps_level: int | None = None,
             vars: dict | None = None, wait: bool = True) -> dict:
    """A fresh throwaway host (new overlay upper dir; an existing host of that name is replaced).
    Safe to call concurrently. Returns its status entry plus `ssh_argv`."""
    hv = dict(vars or {})
    if mlps_level is not None:
        hv["mlps_level"] = int(mlps_level)
    if name in (sites.SAMECITY["name"], sites.REMOTE["name"]):
        raise UserError(f"lab host {name}: reserved for a DR site")
    with core.locked():
        st = core.load()
        _ensure_base(st)
        core.create(st, name, role, disk_mib=disk_mib or core.DEFAULT_DISK_MIB, vars=hv)
        core.write_known_hosts(st)
        core.save(st)
    if wait:
        try:
            core.wait_ssh([name])
        except Exception:
            remove_host(name)
            raise
        core.mark_running([name])
    return {**host_status(core.load()["hosts"][name]), "ssh_argv": core.ssh_argv(name)}


def remove_host(name: str) -> None:
    """Stop and delete a host with its overlay (idempotent)."""
    with core.locked():
        st = core.load()
        rec = st["hosts"].pop(name, None)
        if rec is None:
            return
        rec["state"] = "removing"
        inventory.write(st)
        core.destroy(rec)
        _drop_unused_bridges(st)
        core.write_known_hosts(st)
        core.save(st)


def _drop_unused_bridges(st: dict) -> None:
    used = {r["bridge"] for r in st["hosts"].values()}
    for br in list(st.get("bridges", {})):
        if br not in used:
            sysutil.delete_link(br)
            del st["bridges"][br]


def down() -> dict:
    """Stop everything the lab hosts started: containers (by state and by scanning /proc), mounts, veths,
    bridges, state. Idempotent; works after a crash or a SIGKILLed host."""
    with core.locked():
        st = core.load()
        inventory.remove()
        pids = []
        for rec in st["hosts"].values():
            if core.running(rec):
                pids.append(rec["pid"])
        # nspawn turns SIGTERM into a poweroff; give it a moment, then kill whatever is left
        sysutil.kill_all(pids, grace=3.0)
        cgroups = [h / core.cgroup_base() for h in core._cgroup_hierarchies()]
        for _ in range(5):
            left = sorted(set(sysutil.pids_under(core.base())) | set(sysutil.cgroup_pids(cgroups)))
            if not left:
                break
            sysutil.kill_all(left, grace=0.5)
        sysutil.umount_all(core.base())
        # veths vanish with their containers; delete what is left in our bridges, then the bridges
        ours = {core.BRIDGE, *st.get("bridges", {})}
        masters = sysutil.link_masters()
        ours |= {ln for ln in masters if ln.startswith(core.SUBNET_BRIDGE)}
        for link, master in masters.items():
            if master in ours and link.startswith(core.VETH_HOST):
                sysutil.delete_link(link)
        for rec in st["hosts"].values():
            sysutil.delete_link(core.veth(rec))
        for link in ours:
            sysutil.delete_link(link)
        deadline = time.monotonic() + 5
        while True:
            core.remove_cgroups(cgroups)
            if not any(c.exists() for c in cgroups) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not sysutil.mounts_under(core.base()):
            shutil.rmtree(core.nodes_dir(), ignore_errors=True)
        shutil.rmtree(sites.sites_dir(), ignore_errors=True)
        core.key_path().unlink(missing_ok=True)
        core.key_path().with_suffix(".pub").unlink(missing_ok=True)
        core.known_hosts_path().unlink(missing_ok=True)
        core.save({"hosts": {}, "bridges": {}})
    return status()


def host_status(rec: dict, table: dict | None = None) -> dict:
    state = rec.get("state", "?")
    mem = None
    if rec.get("pid"):
        if core.running(rec):
            pids = [rec["pid"], *sysutil.descendants(rec["pid"], table)]
            mem = round(sysutil.pss_kib(pids) / 1024, 1)
        elif state in ("running", "starting"):
            state = "dead"
    return {"name": rec["name"], "address": rec["address"], "role": rec["role"], "state": state,
            "memory_mib": mem, "hostname": rec.get("hostname", rec["name"])}


def status() -> dict:
    """Fast, never raises: per host name, address, role, state, memory_mib (PSS of the container)."""
    try:
        st = core.load()
        table = sysutil.process_table() if st["hosts"] else {}
        hosts = [host_status(r, table) for r in sorted(st["hosts"].values(), key=lambda r: r["name"])]
        if not hosts:
            state = "down"
        elif all(h["state"] == "running" for h in hosts):
            state = "up"
        else:
            state = "degraded"
        return {"state": state, "hosts": hosts,
                "inventory": str(core.inventory_path()) if core.inventory_path().exists() else None,
                "ssh_key": str(core.key_path()) if core.key_path().exists() else None,
                "known_hosts": str(core.known_hosts_path()) if core.known_hosts_path().exists() else None,
                "memory_mib": round(sum(h["memory_mib"] or 0 for h in hosts), 1)}
    except Exception as e:  # status must never break `govcloud lab status`
        return {"state": "unknown", "error": f"{type(e).__name__}: {e}", "hosts": [], "inventory": None,
                "ssh_key": None, "known_hosts": None}
