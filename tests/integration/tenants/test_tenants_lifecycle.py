"""A throwaway stack on the real lab: up, no-op up, add a tenant, drift, remove a tenant, destroy.

Uses a two-tenant test catalog (one server) so each step is quick; everything is checked with
openstacksdk, independently of Pulumi. The tests run in file order and share one stack.
"""

from __future__ import annotations

import json
import os

import pytest
from tenants_support import (
    connect,
    keypair,
    make_project,
    pulumi_run,
    purge,
    snapshot,
    tenant_yaml,
    wait_for,
)

from govcloud import tenants

pytestmark = [pytest.mark.lab]

STACK = "citest-tenants"
IDS = ["cta", "ctb", "ctc", "ctd"]
ROLE = "citest_security_admin"
OUR_CIDRS = {f"10.{a}.{b}.0/24" for a in (29, 30, 31) for b in (200, 201)}


@pytest.fixture(scope="module")
def env(openstack_lab, tmp_path_factory):
    clouds = str(openstack_lab["clouds_yaml"])
    tmp = tmp_path_factory.mktemp("tenants-citest")
    cat = tmp / "catalog"
    cat.mkdir()
    (cat / "cta.yaml").write_text(tenant_yaml("cta", 3, 30, servers=True, link_to="ctb"), encoding="utf-8")
    (cat / "ctb.yaml").write_text(tenant_yaml("ctb", 2, 31), encoding="utf-8")
    project = make_project(tmp / "project", STACK, cat, clouds, keypair(tmp), ROLE)
    # a crashed earlier run may have left its stack and resources: start from a clean lab
    tenants.ensure_stack(STACK, cwd=project)
    tenants.pulumi(["stack", "rm", "--yes", "--force", "--preserve-config"], STACK, cwd=project)
    purge(clouds, IDS, ROLE)
    conn = connect(clouds)
    before = snapshot(conn)
    ctx = {"clouds": clouds, "catalog": cat, "project": project, "conn": conn, "before": before}
    yield ctx
    # leave nothing behind even when a test failed half-way
    proc = pulumi_run(project, STACK, "destroy", timeout=600)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
    tenants.pulumi(["stack", "rm", "--yes", "--force"], STACK, cwd=project)
    purge(clouds, IDS, ROLE)


def _outputs(env) -> dict:
    return tenants.stack_outputs(STACK, cwd=env["project"])


def _preview(env) -> dict:
    proc = tenants.pulumi(["preview", "--json", "--suppress-progress"], STACK, cwd=env["project"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return json.loads(proc.stdout)


def _changes(preview: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in preview.get("steps") or []:
        if s.get("op") not in ("same", "read"):
            out.setdefault(s["op"], []).append(s["urn"].split("::")[-1])
    return out


def test_up_creates_what_the_catalog_says(env):
    proc = pulumi_run(env["project"], STACK, "up")
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    conn = env["conn"]
    projects = {p.name: p for p in conn.identity.projects()}
    assert {"cta", "ctb"} <= set(projects)
    cta = projects["cta"]
    assert "mlps_level=3" in cta.tags and any(t.startswith("credit_code=") for t in cta.tags)
    nets = {n.name: n for n in conn.network.networks(project_id=cta.id)}
    assert {"cta-mgmt", "cta-app"} <= set(nets)
    subnets = {s.name: s.cidr for s in conn.network.subnets(project_id=cta.id)}
    assert subnets["cta-app"] == "10.30.201.0/24" and subnets["cta-mgmt"] == "10.30.200.0/24"
    # security groups: nothing from 0.0.0.0/0; ssh only from the ops network
    sgs = {g.name: g for g in conn.network.security_groups(project_id=cta.id)}
    rules = list(conn.network.security_group_rules(security_group_id=sgs["cta-app"].id))
    ingress = [r for r in rules if r.direction == "ingress"]
    assert ingress and all(r.remote_ip_prefix not in (None, "0.0.0.0/0") for r in ingress)
    assert {(r.port_range_min, r.remote_ip_prefix) for r in ingress if r.port_range_min == 22} <= {
        (22, "10.250.0.0/24"), (22, "10.30.200.0/24")}
    # the declared exchange link cta:app -> ctb:app tcp/443, nothing wider
    ctb = projects["ctb"]
    ctb_sgs = {g.name: g for g in conn.network.security_groups(project_id=ctb.id)}
    ctb_rules = list(conn.network.security_group_rules(security_group_id=ctb_sgs["ctb-app"].id))
    link = [r for r in ctb_rules if r.remote_ip_prefix == "10.30.201.0/24"]
    assert [(r.protocol, r.port_range_min, r.port_range_max) for r in link] == [("tcp", 443, 443)]
    # server ACTIVE with metadata, in the anti-affinity group, with an encrypted volume
    servers = wait_for(lambda: [s for s in conn.compute.servers(all_projects=True, project_id=cta.id)
                                if s.status == "ACTIVE"], 180, what="cta server ACTIVE")
    assert [s.name for s in servers] == ["cta-web-1"]
    md = servers[0].metadata
    assert md["mlps_level"] == "3" and md["zone"] == "app" and md["data_location"] == "CN-SD-Liaocheng"
    assert md["department"] == "测试cta局" and md["owner"] == "测试员"
    vols = list(conn.block_storage.volumes(all_projects=True, project_id=cta.id))
    assert [(v.name, v.volume_type, v.status) for v in vols] == [("cta-web-1-data", "encrypted", "in-use")]
    # quotas = small class
    q = conn.compute.get_quota_set(cta.id)
    assert q.instances == 4 and q.cores == 8
    assert conn.network.get_quota(cta.id).networks == 4
    # containers in the DR region, inside the tenant's account, versioned
    dr = connect(env["clouds"], "dr", project_id=cta.id)
    names = sorted(c.name for c in dr.object_store.containers())
    assert names == ["cta-backup"]
    head = dr.object_store.head("/cta-backup").headers
    assert head.get("X-Versions-Enabled", "").lower() == "true"
    assert int(head["X-Container-Meta-Quota-Bytes"]) > 0
    # outputs: hosts with addresses, backup target with credential id, secret hidden
    out = _outputs(env)
    host = out["tenants"]["cta"]["hosts"][0]
    assert host["name"] == "cta-web-1" and host["address"].startswith("10.30.201.") and host["level"] == 3
    assert out["backup_targets"]["cta"]["region"] == "dr" and out["backup_targets"]["cta"]["app_credential_id"]
    assert out["backup_secrets"] == "[secret]"


def test_second_up_changes_nothing(env):
    prev = _preview(env)
    assert _changes(prev) == {}, _changes(prev)


def test_adding_a_tenant_creates_only_its_resources(env):
    (env["catalog"] / "ctc.yaml").write_text(tenant_yaml("ctc", 2, 29, zones=1), encoding="utf-8")
    changes = _changes(_preview(env))
    assert set(changes) == {"create"}, changes
    assert changes["create"] and all(n.startswith("ctc") for n in changes["create"]), changes
    proc = pulumi_run(env["project"], STACK, "up")
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    assert any(p.name == "ctc" for p in env["conn"].identity.projects())
    assert [n.name for n in env["conn"].network.networks(name="ctc-mgmt")] == ["ctc-mgmt"]


def test_invalid_catalog_is_refused_before_any_resource(env):
    bad = env["catalog"] / "ctd.yaml"
    bad.write_text(tenant_yaml("ctc", 2, 30).replace("id: ctc", "id: ctd"), encoding="utf-8")  # cta's CIDRs
    try:
        proc = pulumi_run(env["project"], STACK, "up")
        assert proc.returncode != 0
        assert "ctd.yaml:" in proc.stdout + proc.stderr and "overlaps" in proc.stdout + proc.stderr
        assert not any(p.name == "ctd" for p in env["conn"].identity.projects())
    finally:
        bad.unlink()


def test_removing_a_tenant_deletes_only_its_resources(env):
    (env["catalog"] / "ctc.yaml").unlink()
    changes = _changes(_preview(env))
    assert set(changes) == {"delete"}, changes
    assert all(n.startswith("ctc") for n in changes["delete"]), changes
    proc = pulumi_run(env["project"], STACK, "up")
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    conn = env["conn"]
    assert not any(p.name == "ctc" for p in conn.identity.projects())
    assert list(conn.network.networks(name="ctc-mgmt")) == []
    assert {"cta", "ctb"} <= {p.name for p in conn.identity.projects()}


def test_drift_is_reported_per_tenant(env):
    conn = env["conn"]
    code, per = tenants.drift(STACK, cwd=env["project"], catalog_dir=str(env["catalog"]))
    assert (code, per) == (0, {})
    cta = conn.identity.find_project("cta")
    sg = conn.network.find_security_group("cta-app", project_id=cta.id)
    rule = next(r for r in conn.network.security_group_rules(security_group_id=sg.id)
                if r.direction == "ingress" and r.port_range_min == 22 and r.remote_ip_prefix == "10.250.0.0/24")
    conn.network.delete_security_group_rule(rule)
    net = conn.network.find_network("ctb-app")
    conn.network.update_network(net, name="ctb-app-renamed")
    code, per = tenants.drift(STACK, cwd=env["project"], catalog_dir=str(env["catalog"]))
    assert code == 1, per
    assert set(per) == {"cta", "ctb"}, per
    assert [c["name"] for c in per["cta"]] == ["cta-app-ssh-ops"]
    assert [(c["op"], c["name"]) for c in per["ctb"]] == [("update", "ctb-app")]
    # `up` puts the catalog state back
    proc = pulumi_run(env["project"], STACK, "up", "--refresh")
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    assert tenants.drift(STACK, cwd=env["project"], catalog_dir=str(env["catalog"]))[0] == 0


def test_drift_exit_2_when_refresh_fails(env):
    # a stack that does not exist cannot be refreshed
    code, per = tenants.drift("citest-tenants-missing", cwd=env["project"])
    assert code == 2 and "citest-tenants-missing" in per["error"]


def test_destroy_leaves_the_lab_as_before(env):
    proc = pulumi_run(env["project"], STACK, "destroy", timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    after = snapshot(env["conn"])
    for kind, names in after.items():
        # nothing of ours is left; everything that was there before (except other suites' throwaway
        # "citest-" objects, which may come and go concurrently) is still there
        assert not [n for n in names if str(n).split("-")[0] in IDS or n in OUR_CIDRS], (kind, names)
        kept = [n for n in env["before"][kind] if not str(n).startswith("citest-")]
        assert set(kept) <= set(names), (kind, set(kept) - set(names))
    assert os.path.isdir(env["project"])
