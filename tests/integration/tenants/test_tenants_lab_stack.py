"""The example catalog on stack `lab` (kept up afterwards: policies, hardening and backup use it).

`pulumi up` through `govcloud tenants up`, then everything the catalog says is checked with openstacksdk;
a second preview must show no change; the stack inventory is written from the outputs.
"""

from __future__ import annotations

import ipaddress
import json
import time

import pytest
import yaml
from tenants_support import connect, wait_for

from govcloud import cli, stack_inventory, tenants
from infra import catalog

pytestmark = [pytest.mark.lab]

STACK = "lab"


@pytest.fixture(scope="module")
def lab_stack(openstack_lab, lab_hosts):
    cat = catalog.load(catalog.DEFAULT_CATALOG)
    t0 = time.monotonic()
    proc = tenants.run_stack_command("up", STACK, capture=True, timeout=900)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-5000:] + proc.stdout[-5000:]
    print(f"\npulumi up (stack lab, {len(cat.tenants)} tenants): {took:.1f} s")
    return {"catalog": cat, "conn": connect(str(openstack_lab["clouds_yaml"])),
            "clouds": str(openstack_lab["clouds_yaml"])}


def test_projects_networks_and_rules(lab_stack):
    conn, cat = lab_stack["conn"], lab_stack["catalog"]
    projects = {p.name: p for p in conn.identity.projects()}
    ops = ipaddress.ip_network("10.250.0.0/24")
    for t in cat.tenants:
        p = projects[t["id"]]
        assert f"mlps_level={t['mlps_level']}" in p.tags and f"credit_code={t['credit_code']}" in p.tags
        subnets = {s.name: s.cidr for s in conn.network.subnets(project_id=p.id)}
        for z in t["zones"]:
            assert subnets[f"{t['id']}-{z['name']}"] == z["cidr"]
        for sg in conn.network.security_groups(project_id=p.id):
            if sg.name == "default":
                continue
            for r in conn.network.security_group_rules(security_group_id=sg.id, direction="ingress"):
                assert r.remote_ip_prefix and ipaddress.ip_network(r.remote_ip_prefix).prefixlen >= 12, (sg.name, r)
                if r.port_range_min in (22, 3306, 5432):
                    net = ipaddress.ip_network(r.remote_ip_prefix)
                    assert net == ops or net.subnet_of(ipaddress.ip_network("10.16.0.0/12")), (sg.name, r)
    groups = {g.name for g in conn.identity.groups()}
    assert {"wjw-system_admin", "wjw-security_admin", "wjw-audit_admin"} <= groups


def test_servers_active_with_metadata_and_volumes(lab_stack):
    conn, cat = lab_stack["conn"], lab_stack["catalog"]
    expected = {f"{t['id']}-{s['name']}-{n}": (t, s) for t in cat.tenants for s in t["servers"]
                for n in range(1, s["count"] + 1)}

    def active():
        got = {s.name: s for s in conn.compute.servers(all_projects=True) if s.name in expected}
        return got if len(got) == len(expected) and all(s.status == "ACTIVE" for s in got.values()) else None

    servers = wait_for(active, 300, 3, "every catalog server ACTIVE")
    vols = {v.name: v for v in conn.block_storage.volumes(all_projects=True)}
    for name, (t, s) in expected.items():
        md = servers[name].metadata
        assert (md["department"], md["mlps_level"], md["owner"], md["zone"]) == (
            t["name"], str(t["mlps_level"]), t["owner"], s["zone"])
        assert md["data_location"].startswith("CN-")
        for v in s["volumes"]:
            vol = vols[f"{name}-{v['name']}"]
            assert vol.size == v["size_gb"] and vol.status == "in-use"
            assert vol.volume_type == ("encrypted" if t["mlps_level"] == 3 else "standard")


def test_anti_affinity_and_quotas(lab_stack):
    conn, cat = lab_stack["conn"], lab_stack["catalog"]
    wjw = cat.by_id()["wjw"]
    p = conn.identity.find_project("wjw")
    q = conn.compute.get_quota_set(p.id)
    assert (q.instances, q.cores, q.ram) == (wjw["quota"]["instances"], wjw["quota"]["cores"], wjw["quota"]["ram_mb"])
    assert conn.network.get_quota(p.id).networks == wjw["quota"]["networks"]
    assert conn.block_storage.get_quota_set(p.id).volumes == wjw["quota"]["volumes"]
    his = [s for s in conn.compute.servers(all_projects=True) if s.name.startswith("wjw-his-")]
    assert len(his) == 2 and len({s.compute_host for s in his}) == 2  # anti-affinity: two hosts


def test_backup_containers_in_dr(lab_stack):
    conn, cat = lab_stack["conn"], lab_stack["catalog"]
    for tid in ("wjw", "sjj"):
        p = conn.identity.find_project(tid)
        dr = connect(lab_stack["clouds"], "dr", project_id=p.id)
        names = {c.name for c in dr.object_store.containers()}
        want = {f"{tid}-backup"} | {f"{tid}-{o['name']}" for o in cat.by_id()[tid]["object_storage"]}
        assert want <= names


def test_second_preview_changes_nothing(lab_stack):
    proc = tenants.run_stack_command("preview", STACK, ["--expect-no-changes", "--json", "--suppress-progress"],
                                     capture=True, timeout=600)
    assert proc.returncode == 0, [s["urn"] for s in json.loads(proc.stdout or "{}").get("steps", [])
                                  if s.get("op") != "same"] or proc.stderr[-3000:]


def test_inventory_from_outputs(lab_stack, capsys):
    assert cli.main(["tenants", "inventory", "--stack", STACK]) == 0
    inv = yaml.safe_load(stack_inventory.path_for(STACK).read_text(encoding="utf-8"))
    groups = inv["all"]["children"]["stack_lab"]["children"]
    assert set(groups["tenant_wjw"]["hosts"]) == {"wjw-his-1", "wjw-his-2", "wjw-emrdb-1"}
    assert "jtj-portal-1" in groups["mlps_level_2"]["hosts"]
    hv = groups["tenant_gaj"]["hosts"]["gaj-app-1"]
    assert hv["mlps_level"] == 3 and ipaddress.ip_address(hv["ansible_host"]) in ipaddress.ip_network("10.18.1.0/24")
    text = stack_inventory.path_for(STACK).read_text(encoding="utf-8")
    assert "[secret]" not in text and "backup_secrets" not in text
