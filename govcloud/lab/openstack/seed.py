"""Seed the lab like a provider cloud and decide when it is usable (openstacksdk, admin credentials).

Every step looks before it creates, so it can run on each `up`.
"""

from __future__ import annotations

import hashlib
import time

from govcloud.errors import UserError
from govcloud.lab.openstack import layout, procs
from govcloud.lab.openstack.layout import REGIONS, Dirs

KEYSTONE = f"http://127.0.0.1:{layout.SHARED_PORTS['keystone']}/v3"
SERVICE_USERS = ("nova", "placement", "neutron", "glance", "cinder", "swift")
FLAVORS = {"gc.small": (1, 1024, 10), "gc.medium": (2, 4096, 20), "gc.large": (4, 8192, 40)}
IMAGE = "debian-12-hardened"
PUBLIC_CIDR = {"primary": "198.51.100.0/24", "dr": "203.0.113.0/24"}
ENCRYPTION = {"provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256, "control_location": "front-end"}


def image_bytes() -> bytes:
    """A few KB standing in for the hardened Debian image (deterministic, so its checksum is stable)."""
    block = hashlib.sha256(b"govcloud debian-12-hardened lab image").digest()
    return b"GOVCLOUD-LAB-IMAGE\n" + block * 128


def connect(sec: dict, region: str = "primary", user: str = "admin"):
    import openstack

    if user == "admin":
        auth = {"username": "admin", "password": sec["admin"], "project_name": "admin",
                "user_domain_name": "Default", "project_domain_name": "Default"}
    else:
        auth = {"username": "operator", "password": sec["operator"], "project_name": "operator",
                "user_domain_name": "city", "project_domain_name": "city"}
    return openstack.connect(load_yaml_config=False, load_envvars=False, auth_type="password",
                             auth={"auth_url": KEYSTONE, **auth}, region_name=region, interface="public",
                             identity_api_version="3", api_timeout=60)


def endpoints(region: str) -> dict[str, tuple[str, str, str]]:
    """{service type: (service name, url)} of a region."""
    p = layout.region_ports(region)
    return {
        "compute": ("nova", f"http://127.0.0.1:{p['nova']}/v2.1"),
        "placement": ("placement", f"http://127.0.0.1:{p['placement']}"),
        "network": ("neutron", f"http://127.0.0.1:{p['neutron']}"),
        "image": ("glance", f"http://127.0.0.1:{p['glance']}"),
        "volumev3": ("cinderv3", f"http://127.0.0.1:{p['cinder']}/v3"),
        "object-store": ("swift", f"http://127.0.0.1:{p['swift_proxy']}/v1/AUTH_%(project_id)s"),
        "identity": ("keystone", KEYSTONE),
    }


def _wait_token(sec: dict, timeout: float = 90):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            conn = connect(sec)
            conn.authorize()
            return conn
        except Exception as e:  # noqa: BLE001 - keystone still starting
            last = e
            time.sleep(1)
    raise UserError(f"lab openstack: service keystone: no token after {timeout:.0f} s ({last})")


def identity(d: Dirs, sec: dict) -> None:
    """Regions, catalog, service users, domain `city` and the operator account."""
    conn = _wait_token(sec)
    idc = conn.identity
    regions = {r.id for r in idc.regions()}
    for r in REGIONS:
        if r not in regions:
            idc.post("/regions", json={"region": {"id": r, "description": f"govcloud lab region {r}"}})
    roles = {r.name: r for r in idc.roles()}
    for name in ("admin", "member", "reader", "manager", "service", "ResellerAdmin"):
        if name not in roles:
            roles[name] = idc.create_role(name=name)
    default = idc.find_domain("default") or idc.find_domain("Default")
    service_project = idc.find_project("service", domain_id=default.id) or idc.create_project(
        name="service", domain_id=default.id, description="OpenStack service users")
    users = {u.name: u for u in idc.users(domain_id=default.id)}
    for name in SERVICE_USERS:
        u = users.get(name)
        if u is None:
            u = idc.create_user(name=name, password=sec["service"], domain_id=default.id)
        for role in ("admin", "service"):
            idc.assign_project_role_to_user(service_project, u, roles[role])
    services = {(s.type, s.name): s for s in idc.services()}
    eps = {(e.service_id, e.region_id, e.interface) for e in idc.endpoints()}
    for r in REGIONS:
        for stype, (sname, url) in endpoints(r).items():
            svc = services.get((stype, sname))
            if svc is None:
                svc = idc.create_service(type=stype, name=sname, is_enabled=True)
                services[(stype, sname)] = svc
            for iface in ("public", "internal", "admin"):
                if (svc.id, r, iface) not in eps:
                    idc.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=r)
    city = idc.find_domain("city") or idc.create_domain(name="city", description="City government cloud")
    project = idc.find_project("operator", domain_id=city.id) or idc.create_project(
        name="operator", domain_id=city.id, description="Cloud operations (the operator account)")
    op = idc.find_user("operator", domain_id=city.id)
    if op is None:
        op = idc.create_user(name="operator", password=sec["operator"], domain_id=city.id,
                             default_project_id=project.id)
    else:
        idc.update_user(op, password=sec["operator"])
    idc.assign_project_role_to_user(project, op, roles["member"])


# ---------------------------------------------------------------- readiness

def _fresh(updated_at: str | None, within: float = 30) -> bool:
    """True if a service heartbeat timestamp (UTC, ISO without zone) is younger than `within` seconds."""
    if not updated_at:
        return False
    import datetime as dt

    ts = dt.datetime.fromisoformat(updated_at.replace("Z", "").split("+")[0])
    age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - ts
    return age.total_seconds() < within


def _checks(conn) -> dict[str, callable]:
    def hypervisors():
        hv = [h for h in conn.compute.hypervisors(details=True) if h.state == "up" and h.status == "enabled"]
        # "up" only means a heartbeat within the last minute: also require fresh ones (every 10 s), so a
        # compute that lost its RPC connection (e.g. RabbitMQ restarted) does not count
        fresh = [s for s in conn.compute.services(binary="nova-compute") if _fresh(s.updated_at)]
        return len(hv) >= layout.COMPUTE_HOSTS and len(fresh) >= layout.COMPUTE_HOSTS

    def providers():
        rps = conn.placement.get("/resource_providers").json()["resource_providers"]
        with_inv = 0
        for rp in rps:
            inv = conn.placement.get(f"/resource_providers/{rp['uuid']}/inventories").json()["inventories"]
            with_inv += "VCPU" in inv
        return with_inv >= layout.COMPUTE_HOSTS

    def volume():
        up = [s for s in conn.block_storage.services()
              if s.binary == "cinder-volume" and s.state == "up" and _fresh(s.updated_at)]
        pools = conn.block_storage.get("/scheduler-stats/get_pools").json().get("pools", [])
        return bool(up) and bool(pools)

    def network():
        conn.network.get("/extensions").json()
        return True

    def image():
        list(conn.image.images(limit=1))
        return True

    def swift():
        conn.object_store.get_account_metadata()
        return True

    return {"nova-compute": hypervisors, "placement-api": providers, "cinder-volume": volume,
            "neutron-api": network, "glance-api": image, "swift-proxy": swift}


def wait_ready(d: Dirs, sec: dict, timeout: float = 300) -> None:
    """Return when every region is usable; raise naming the service that is not."""
    deadline = time.monotonic() + timeout
    _wait_token(sec, timeout=max(10, timeout / 3))
    from govcloud.lab.openstack import core

    svcs = core._all_services(d)
    for r in REGIONS:
        conn = connect(sec, r)
        pending = _checks(conn)
        errors: dict[str, str] = {}
        while pending:
            for name, fn in list(pending.items()):
                try:
                    if fn():
                        del pending[name]
                        continue
                    errors[name] = "not ready yet"
                except Exception as e:  # noqa: BLE001 - keep trying until the deadline
                    errors[name] = f"{type(e).__name__}: {e}"
            for s in svcs:
                if not procs.running(d.run, s.name):
                    raise core._fail(d, s.name, "exited while the lab was starting")
            if not pending:
                break
            if time.monotonic() > deadline:
                name = next(iter(pending))
                svc = f"{r}-{name}" if name != "nova-compute" else f"{r}-nova-compute-1"
                raise core._fail(d, svc, f"region {r} not usable after {timeout:.0f} s: {errors.get(name)}")
            time.sleep(2)


# ---------------------------------------------------------------- provider resources

def resources(d: Dirs, sec: dict) -> None:
    for r in REGIONS:
        conn = connect(sec, r)
        _network(conn, r)
        _flavors(conn)
        _image(conn)
        _volume_types(conn)


def _network(conn, region: str) -> None:
    net = conn.network.find_network("public")
    if net is None:
        net = conn.network.create_network(name="public", is_router_external=True, is_shared=True,
                                          provider_network_type="flat", provider_physical_network="public")
    if not list(conn.network.subnets(network_id=net.id)):
        cidr = PUBLIC_CIDR[region]
        base = cidr.rsplit(".", 1)[0]
        conn.network.create_subnet(network_id=net.id, name="public-subnet", ip_version=4, cidr=cidr,
                                   gateway_ip=f"{base}.1", is_dhcp_enabled=False,
                                   allocation_pools=[{"start": f"{base}.10", "end": f"{base}.250"}])


def _flavors(conn) -> None:
    have = {f.name for f in conn.compute.flavors(is_public=None)}
    for name, (vcpus, ram, disk) in FLAVORS.items():
        if name not in have:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)


def _image(conn) -> None:
    imgs = [i for i in conn.image.images(name=IMAGE)]
    if any(i.status == "active" for i in imgs):
        return
    for i in imgs:  # a half-uploaded leftover
        conn.image.delete_image(i, ignore_missing=True)
    img = conn.image.create_image(name=IMAGE, data=image_bytes(), disk_format="raw", container_format="bare",
                                  visibility="public", allow_duplicates=True,
                                  os_distro="debian", os_version="12", hw_firmware_type="uefi")
    deadline = time.monotonic() + 60
    while conn.image.get_image(img.id).status != "active":
        if time.monotonic() > deadline:
            raise UserError(f"lab openstack: service glance-api: image {IMAGE} not active after 60 s")
        time.sleep(1)


def _volume_types(conn) -> None:
    bs = conn.block_storage
    have = {t.name: t for t in bs.types()}
    for name in ("standard", "encrypted"):
        if name not in have:
            have[name] = bs.create_type(name=name, extra_specs={"volume_backend_name": "fake"},
                                        description=f"govcloud {name} volumes")
    enc = None
    try:
        enc = bs.get_type_encryption(have["encrypted"])
    except Exception:  # noqa: BLE001 - no encryption spec yet
        enc = None
    if not enc or not getattr(enc, "provider", None):
        bs.create_type_encryption(have["encrypted"], **ENCRYPTION)
