"""The lab's OpenStack as a tenant sees it: the `govcloud-operator` account in each region builds a small
workload through every service (network, router, security group, anti-affinity servers, volume, Swift,
application credential), then cleans up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab]

REGIONS = ["primary", "dr"]


def _connect(clouds_yaml: str, cloud: str, region: str):
    import openstack
    import openstack.config

    cfg = openstack.config.OpenStackConfig(config_files=[clouds_yaml], load_envvars=False)
    return openstack.connection.Connection(config=cfg.get_one(cloud=cloud, region_name=region))


def _until(what: str, fn, timeout: float = 120, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last: {last!r})")


def _server_state(conn, server_id: str, want: str):
    s = conn.compute.get_server(server_id)
    if s.status == "ERROR":
        raise AssertionError(f"server {s.name} went to ERROR: {s.fault}")
    return s if s.status == want else None


@pytest.mark.parametrize("region", REGIONS)
def test_operator_workload(openstack_lab, region):
    clouds_yaml = openstack_lab["clouds_yaml"]
    op = _connect(clouds_yaml, "govcloud-operator", region)
    admin = _connect(clouds_yaml, "govcloud-admin", region)
    tag = f"citest-{region}-{uuid.uuid4().hex[:6]}"
    cleanup = []
    try:
        # network, subnet, router with a gateway on the provider's external network
        net = op.network.create_network(name=f"{tag}-net")
        cleanup.append(lambda: op.network.delete_network(net, ignore_missing=True))
        subnet = op.network.create_subnet(network_id=net.id, name=f"{tag}-sub", ip_version=4,
                                          cidr="10.99.0.0/24")
        cleanup.append(lambda: op.network.delete_subnet(subnet, ignore_missing=True))
        public = op.network.find_network("public")
        assert public is not None and public.is_router_external
        router = op.network.create_router(name=f"{tag}-router", external_gateway_info={"network_id": public.id})
        cleanup.append(lambda: op.network.delete_router(router, ignore_missing=True))
        op.network.add_interface_to_router(router, subnet=subnet.id)
        cleanup.append(lambda: op.network.remove_interface_from_router(router, subnet=subnet.id))
        sg = op.network.create_security_group(name=f"{tag}-sg", description="citest")
        cleanup.append(lambda: op.network.delete_security_group(sg, ignore_missing=True))
        op.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", protocol="tcp",
                                              port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.0/8")

        # two servers in an anti-affinity group land on different hypervisors
        group = op.compute.create_server_group(name=f"{tag}-grp", policy="anti-affinity")
        cleanup.append(lambda: op.compute.delete_server_group(group, ignore_missing=True))
        flavor = op.compute.find_flavor("gc.small")
        image = op.image.find_image("debian-12-hardened")
        assert flavor is not None and image is not None
        servers = []
        for i in (1, 2):
            s = op.compute.create_server(name=f"{tag}-vm{i}", flavor_id=flavor.id, image_id=image.id,
                                         networks=[{"uuid": net.id}], security_groups=[{"name": sg.name}],
                                         scheduler_hints={"group": group.id})
            servers.append(s)
            cleanup.append(lambda s=s: op.compute.delete_server(s, ignore_missing=True))
        active = [_until(f"server {s.name} ACTIVE", lambda s=s: _server_state(op, s.id, "ACTIVE"), 180)
                  for s in servers]
        hosts = {admin.compute.get_server(s.id).compute_host for s in active}
        assert len(hosts) == 2, f"anti-affinity servers share a host: {hosts}"
        assert active[0].host_id != active[1].host_id

        # a volume attached to the first server
        vol = op.block_storage.create_volume(name=f"{tag}-vol", size=1)
        cleanup.append(lambda: op.block_storage.delete_volume(vol, ignore_missing=True))
        _until("volume available", lambda: op.block_storage.get_volume(vol.id).status == "available", 120)
        op.compute.create_volume_attachment(active[0], volume_id=vol.id)
        _until("volume in-use", lambda: op.block_storage.get_volume(vol.id).status == "in-use", 120)
        attached = op.block_storage.get_volume(vol.id).attachments
        assert attached and attached[0]["server_id"] == active[0].id
        op.compute.delete_volume_attachment(active[0], vol.id)
        _until("volume detached", lambda: op.block_storage.get_volume(vol.id).status == "available", 120)

        # Swift: an object written and read back
        container = f"{tag}-objects"
        op.object_store.create_container(name=container)
        cleanup.append(lambda: op.object_store.delete_container(container, ignore_missing=True))
        payload = f"govcloud {region} {tag}".encode() * 100
        op.object_store.upload_object(container=container, name="hello.txt", data=payload)
        cleanup.append(lambda: op.object_store.delete_object("hello.txt", container=container,
                                                             ignore_missing=True))
        assert op.object_store.download_object("hello.txt", container=container) == payload

        # an application credential that authenticates on its own
        user_id = op.current_user_id
        secret = uuid.uuid4().hex
        cred = op.identity.create_application_credential(user_id, name=f"{tag}-cred", secret=secret)
        cleanup.append(lambda: op.identity.delete_application_credential(user_id, cred, ignore_missing=True))
        import openstack

        appc = openstack.connect(load_yaml_config=False, load_envvars=False,
                                 auth_type="v3applicationcredential", region_name=region,
                                 auth={"auth_url": op.auth["auth_url"], "application_credential_id": cred.id,
                                       "application_credential_secret": secret})
        assert appc.authorize()
        assert [n.id for n in appc.network.networks(name=f"{tag}-net")] == [net.id]
    finally:
        # servers first (their ports, volume attachment and group depend on them), then the rest
        for s in [x for x in op.compute.servers() if x.name.startswith(tag)]:
            op.compute.delete_server(s, ignore_missing=True)
            op.compute.wait_for_delete(s, wait=120)
        failed = []
        for fn in reversed(cleanup):
            try:
                fn()
            except Exception:  # noqa: BLE001 - retried once below (e.g. a volume still detaching)
                failed.append(fn)
        if failed:
            time.sleep(5)
            for fn in failed:
                try:
                    fn()
                except Exception:  # noqa: BLE001 - best effort: never mask the test's own failure
                    pass


def test_status_json_has_required_keys_and_all_services_up(openstack_lab):
    out = subprocess.run([str(Path(sys.prefix) / "bin" / "govcloud"), "lab", "status", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    for key in ("state", "clouds_yaml", "clouds", "regions", "services", "memory_mib", "memory_by_region", "logs"):
        assert key in st, key
    assert st["state"] == "up"
    assert set(st["clouds"]) == {"govcloud-admin", "govcloud-operator"}
    assert st["regions"] == ["primary", "dr"]
    down = [n for n, v in st["services"].items() if v != "up"]
    assert not down, down
    assert 0 < st["memory_mib"] < 6 * 1024
    assert Path(st["logs"]).is_dir()
    assert (Path(st["clouds_yaml"]).stat().st_mode & 0o077) == 0


@pytest.mark.parametrize("region", REGIONS)
def test_provider_seed(openstack_lab, region):
    admin = _connect(openstack_lab["clouds_yaml"], "govcloud-admin", region)
    assert admin.identity.find_domain("city") is not None
    flavors = {f.name: (f.vcpus, f.ram, f.disk) for f in admin.compute.flavors()}
    assert flavors["gc.small"] == (1, 1024, 10)
    assert flavors["gc.medium"] == (2, 4096, 20)
    assert flavors["gc.large"] == (4, 8192, 40)
    public = admin.network.find_network("public")
    assert public.is_router_external and public.is_shared and public.provider_network_type == "flat"
    assert admin.image.find_image("debian-12-hardened").status == "active"
    types = {t.name: t for t in admin.block_storage.types()}
    assert {"standard", "encrypted"} <= set(types)
    enc = admin.block_storage.get_type_encryption(types["encrypted"])
    assert (enc.provider, enc.cipher, enc.key_size, enc.control_location) == (
        "luks", "aes-xts-plain64", 256, "front-end")


@pytest.mark.parametrize("region", REGIONS)
def test_swift_versioned_container_with_quota(openstack_lab, region):
    op = _connect(openstack_lab["clouds_yaml"], "govcloud-operator", region)
    name = f"citest-{region}-{uuid.uuid4().hex[:6]}-records"
    r = op.object_store.put(f"/{name}", headers={"X-Versions-Enabled": "true",
                                                 "X-Container-Meta-Quota-Bytes": "4096"})
    assert r.status_code in (201, 202), r.status_code
    try:
        head = op.object_store.head(f"/{name}").headers
        assert head.get("X-Versions-Enabled", "").lower() == "true"
        assert head.get("X-Container-Meta-Quota-Bytes") == "4096"
        for body in (b"v1", b"v2"):
            assert op.object_store.put(f"/{name}/doc", data=body).status_code == 201
        versions = op.object_store.get(f"/{name}?versions", headers={"Accept": "application/json"}).json()
        assert len([v for v in versions if v["name"] == "doc"]) == 2
        assert op.object_store.get(f"/{name}/doc").content == b"v2"
        over = op.object_store.put(f"/{name}/big", data=b"x" * 8192, raise_exc=False)
        assert over.status_code == 413
    finally:
        # versions first, then disable versioning, then the container
        versions = op.object_store.get(f"/{name}?versions", headers={"Accept": "application/json"},
                                       raise_exc=False)
        if versions.ok:
            for v in versions.json():
                op.object_store.delete(f"/{name}/{v['name']}?version-id={v['version_id']}", raise_exc=False)
        op.object_store.post(f"/{name}", headers={"X-Versions-Enabled": "false"}, raise_exc=False)
        op.object_store.delete(f"/{name}", raise_exc=False)
