"""`sync()`: one lab host per ACTIVE server of the lab cloud (region primary, all projects).

The lab OpenStack has no data plane (fake hypervisor), so nothing answers at a server's fixed IP. sync gives
each server a lab host that does: same fixed IP, hostname = server name, root login with the server's key
pair (fetched by name + owner as admin) and the lab key. For every tenant subnet a bridge in the root
namespace carries the subnet's gateway address, so this machine reaches every tenant subnet directly.
Hosts of servers that are gone (or no longer ACTIVE) are removed, and so are bridges left without hosts.
Inventory group `lab_servers`, with hostvars from the server metadata (tenant, department, zone, mlps_level).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from govcloud.errors import UserError
from govcloud.lab.hosts import core, inventory, lab, sysutil

TENANT_SPACE = ipaddress.ip_network("10.16.0.0/12")
ADMIN_CLOUD = "govcloud-admin"
REGION = "primary"


@dataclass
class ServerSpec:
    id: str
    name: str
    project_id: str
    fixed_ip: str
    cidr: str
    gateway: str
    public_key: str | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def host_name(self) -> str:
        return "srv-" + re.sub(r"[^a-z0-9]", "", self.id.lower())[:12]

    @property
    def hostname(self) -> str:
        h = re.sub(r"[^A-Za-z0-9-]", "-", self.name).strip("-")[:63]
        return h or self.host_name

    def hostvars(self) -> dict:
        md = self.metadata or {}
        hv = {"openstack_id": self.id, "openstack_name": self.name, "project_id": self.project_id,
              "tenant": md.get("tenant") or md.get("department"),
              "department": md.get("department") or md.get("tenant"),
              "zone": md.get("zone"), "server_metadata": dict(md)}
        try:
            hv["mlps_level"] = int(md.get("mlps_level", 3))
        except (TypeError, ValueError):
            hv["mlps_level"] = 3
        return hv


def connect():
    """openstacksdk connection as the lab's admin, region primary."""
    from govcloud.lab import openstack as lab_openstack

    st = lab_openstack.status()
    path = st.get("clouds_yaml")
    if st.get("state") not in ("up", "degraded") or not path:
        raise UserError(f"lab hosts sync: the OpenStack lab is {st.get('state')!r}; start it with "
                        "`govcloud lab up --only openstack`")
    import openstack
    from openstack import config as os_config

    cfg = os_config.OpenStackConfig(config_files=[path])
    return openstack.connection.Connection(config=cfg.get_one(cloud=ADMIN_CLOUD, region_name=REGION))


def bridge_name(cidr: str) -> str:
    return core.SUBNET_BRIDGE + hashlib.sha1(cidr.encode()).hexdigest()[:8]


def collect(conn) -> list[ServerSpec]:
    """The ACTIVE servers with a fixed IPv4 in a tenant subnet, with subnet, gateway and public key."""
    subnets = []
    for sn in conn.network.subnets():
        if getattr(sn, "ip_version", 4) != 4 or not sn.cidr:
            continue
        subnets.append((ipaddress.ip_network(sn.cidr), sn.gateway_ip))
    specs = []
    for srv in conn.compute.servers(details=True, all_projects=True):
        if (srv.status or "").upper() != "ACTIVE":
            continue
        ips = []
        for addrs in (srv.addresses or {}).values():
            for a in addrs:
                if a.get("version", 4) == 4 and a.get("OS-EXT-IPS:type", "fixed") == "fixed":
                    ips.append(a["addr"])
        if not ips:
            for port in conn.network.ports(device_id=srv.id):
                ips += [f["ip_address"] for f in port.fixed_ips or []]
        chosen = None
        for ip in ips:
            addr = ipaddress.ip_address(ip)
            if addr.version != 4 or addr not in TENANT_SPACE:
                continue
            for net, gw in subnets:
                if addr in net:
                    chosen = (ip, net, gw)
                    break
            if chosen:
                break
        if not chosen:
            continue
        ip, net, gw = chosen
        if not gw or gw == ip:
            gw = next(str(h) for h in net.hosts() if str(h) != ip)
        key = None
        if srv.key_name:
            try:
                key = conn.compute.get_keypair(srv.key_name, user_id=srv.user_id).public_key
            except Exception as e:  # a deleted key pair must not stop the sync
                core._log(f"sync: server {srv.name}: key pair {srv.key_name}: {e}")
        specs.append(ServerSpec(id=srv.id, name=srv.name, project_id=srv.project_id or "", fixed_ip=ip,
                                cidr=str(net), gateway=gw, public_key=key, metadata=dict(srv.metadata or {})))
    return specs


def _inventory_names(specs: list[ServerSpec]) -> dict[str, str]:
    count: dict[str, int] = {}
    for s in specs:
        count[s.name] = count.get(s.name, 0) + 1
    return {s.id: (s.name if count[s.name] == 1 else f"{s.name}-{s.id[:6]}") for s in specs}


def apply(specs: list[ServerSpec]) -> dict:
    """Reconcile the lab's server hosts with `specs`."""
    want = {s.host_name: s for s in specs}
    inv_names = _inventory_names(specs)
    added, removed, starting = [], [], []
    with core.locked():
        st = core.load()
        lab._ensure_base(st)
        for name, rec in list(st["hosts"].items()):
            if rec["role"] != "server":
                continue
            spec = want.get(name)
            if (spec is None or rec["address"] != spec.fixed_ip or rec.get("cidr") != spec.cidr
                    or not rec.get("backup_address") or not core.running(rec)):
                rec = st["hosts"].pop(name)
                core.destroy(rec)
                if spec is None:
                    removed.append(rec.get("inventory_name") or name)
        try:
            for name, spec in want.items():
                if name in st["hosts"]:
                    rec = st["hosts"][name]
                    rec["vars"] = spec.hostvars()
                    rec["inventory_name"] = inv_names[spec.id]
                    if rec.get("state") == "starting":  # started by a sync that failed later on
                        starting.append(name)
                    continue
                net = ipaddress.ip_network(spec.cidr)
                br = bridge_name(spec.cidr)
                st["bridges"][br] = {"cidr": spec.cidr, "gateway": spec.gateway}
                rec = core.create(st, name, "server", address=spec.fixed_ip, prefixlen=net.prefixlen,
                                  gateway=spec.gateway, bridge=br, hostname=spec.hostname,
                                  extra_keys=[spec.public_key] if spec.public_key else [], vars=spec.hostvars(),
                                  backup_net=True)
                rec["inventory_name"] = inv_names[spec.id]
                rec["cidr"] = spec.cidr
                added.append(inv_names[spec.id])
                starting.append(name)
        finally:
            # a host that fails to start (e.g. no room) must not leave the ones started before it
            # unrecorded: save what exists so `down`/the next sync can see and manage them
            core.save(st)
            inventory.write(st)
        lab._drop_unused_bridges(st)
        # bridges of subnets whose state entry was lost (crash) but whose link still exists
        used = set(st["bridges"])
        for link in sysutil.links():
            if link.startswith(core.SUBNET_BRIDGE) and link not in used:
                sysutil.delete_link(link)
        core.write_known_hosts(st)
        core.save(st)
        inventory.write(st)
    if starting:
        core.wait_ssh(starting)
        core.mark_running(starting)
    return {"added": sorted(added), "removed": sorted(removed)}


def sync(conn=None) -> dict:
    return apply(collect(conn if conn is not None else connect()))
