"""The MLPS policies on resource properties (as the pack sees them), stack checks and waivers."""

import datetime as dt

import pytest

from govcloud import waivers
from policies import engine
from policies.engine import Res

TENANTS = [
    {"id": "wjw", "mlps_level": 3, "owner": "王", "data_location": "CN-SD", "quota_class": "small",
     "quota_multiplier": 1.0, "backup_class": "gold",
     "zones": [{"name": "mgmt", "kind": "management", "cidr": "10.17.0.0/24"},
               {"name": "app", "kind": "business", "cidr": "10.17.1.0/24"}],
     "exchange": [{"to": "rsj", "from_zone": "app", "to_zone": "app", "protocol": "tcp", "ports": [443]}]},
    {"id": "rsj", "mlps_level": 2, "owner": "李", "data_location": "CN-SD", "quota_class": "small",
     "zones": [{"name": "mgmt", "kind": "management", "cidr": "10.20.0.0/24"},
               {"name": "app", "kind": "business", "cidr": "10.20.1.0/24"}]},
    {"id": "jtj", "mlps_level": 2, "owner": "赵", "data_location": "CN-SD", "quota_class": "small",
     "zones": [{"name": "app", "kind": "business", "cidr": "10.21.1.0/24"}]},
]
MD = {"department": "wjw", "mlps_level": "3", "owner": "王", "data_location": "CN-SD"}
DR = Res("openstack:objectstorage/container:Container", "wjw-dr", {"region": "dr"}, "urn:dr")
SG = "openstack:networking/secGroupRule:SecGroupRule"


@pytest.fixture
def ctx():
    cfg = engine.load_config({"waiversFile": ""})
    c = engine.build_context(cfg, tenants=TENANTS, with_waivers=False, today=dt.date(2026, 12, 5))
    c.quota_classes = {"small": {"instances": 4, "cores": 8}}
    return c


def ids(findings):
    return sorted({f.policy for f in findings})


def sg_rule(name, **kw):
    props = {"direction": "ingress", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22,
             "remoteIpPrefix": "10.250.0.0/24", "securityGroupId": engine.UNKNOWN}
    props.update(kw)
    return Res(SG, name, props, f"urn:{name}")


def server(name, **kw):
    props = {"imageName": "debian-12-hardened", "keyPair": "ops", "metadata": dict(MD), "userData": None}
    props.update(kw)
    return Res("openstack:compute/instance:Instance", name, props, f"urn:{name}")


def test_compliant_resources_pass(ctx):
    res = [
        sg_rule("wjw-mgmt-ssh"),
        sg_rule("rsj-app-https-in", portRangeMin=443, portRangeMax=443, remoteIpPrefix="10.17.1.0/24"),
        Res("openstack:blockstorage/volume:Volume", "wjw-his-1-data", {"volumeType": "encrypted"}, "urn:v"),
        Res("openstack:blockstorage/volume:Volume", "rsj-x-data", {"volumeType": None}, "urn:v2"),
        server("wjw-db"),
        Res("openstack:identity/project:Project", "wjw",
            {"tags": [f"{k}={v}" for k, v in MD.items()]}, "urn:p"),
        Res("openstack:compute/quotaSetV2:QuotaSetV2", "wjw-compute", {"instances": 4, "cores": 8}, "urn:q"),
        Res("openstack:objectstorage/container:Container", "wjw-backup-dr", {"region": "dr"}, "urn:c"),
        Res("openstack:compute/serverGroup:ServerGroup", "wjw-his", {"policies": "anti-affinity"}, "urn:g"),
        Res("openstack:compute/instance:Instance", "wjw-his-1", server("x").props, "urn:s1",
            {"schedulerHints": ["urn:g"]}),
        Res("openstack:compute/instance:Instance", "wjw-his-2", server("x").props, "urn:s2",
            {"schedulerHints": ["urn:g"]}),
        Res("openstack:networking/port:Port", "wjw-app-his-1", {"networkId": engine.UNKNOWN}, "urn:port"),
        Res("openstack:networking/floatingIpAssociate:FloatingIpAssociate", "wjw-his-fip",
            {"portId": engine.UNKNOWN}, "urn:fip", {"portId": ["urn:port"]}),
    ]
    assert engine.check_all(res, ctx) == []


@pytest.mark.parametrize("policy,resources", [
    ("mlps-sg-no-open-admin-ports", [sg_rule("wjw-app-ssh", remoteIpPrefix="0.0.0.0/0")]),
    ("mlps-mgmt-business-separation", [sg_rule("wjw-app-ssh", remoteIpPrefix="10.17.1.0/24")]),
    ("mlps-l3-volume-encrypted", [Res("openstack:blockstorage/volume:Volume", "wjw-d", {"volumeType": "standard"})]),
    ("mlps-metadata-required", [server("wjw-a", metadata={**MD, "data_location": "US"})]),
    ("mlps-metadata-required", [Res("openstack:identity/project:Project", "wjw", {"tags": ["department=wjw"]})]),
    ("mlps-quota-ceiling", [Res("openstack:compute/quotaSetV2:QuotaSetV2", "wjw-q", {"cores": 9})]),
    ("mlps-hardened-image", [server("wjw-a", imageName="ubuntu-22.04")]),
    ("mlps-key-login", [server("wjw-a", keyPair=None)]),
    ("mlps-key-login", [server("wjw-a", userData="#cloud-config\nssh_pwauth: true\n")]),
    ("mlps-no-undeclared-cross-tenant", [sg_rule("wjw-app-in", portRangeMin=443, portRangeMax=443,
                                                 remoteIpPrefix="10.20.1.0/24")]),
    ("mlps-no-undeclared-cross-tenant", [
        Res("openstack:identity/project:Project", "jtj", {"tags": [f"{k}={v}" for k, v in MD.items()]}, "urn:pj"),
        Res("openstack:networking/rbacPolicyV2:RbacPolicyV2", "rsj-share", {"targetTenant": engine.UNKNOWN},
            "urn:r", {"targetTenant": ["urn:pj"]}),
    ]),
    ("mlps-l3-anti-affinity", [server("wjw-his-1"), server("wjw-his-2")]),
    ("mlps-l3-dr-backup", [Res("openstack:objectstorage/container:Container", "wjw-b", {"region": "primary"})]),
    ("mlps-mgmt-no-floating-ip", [
        Res("openstack:networking/network:Network", "wjw-mgmt", {}, "urn:n"),
        Res("openstack:networking/port:Port", "wjw-bastion-port", {}, "urn:port", {"networkId": ["urn:n"]}),
        Res("openstack:networking/floatingIpAssociate:FloatingIpAssociate", "wjw-fip", {}, "urn:f",
            {"portId": ["urn:port"]}),
    ]),
    ("mlps-mgmt-no-floating-ip", [Res("openstack:networking/floatingIp:FloatingIp", "wjw-fip",
                                      {"fixedIp": "10.17.0.9"}, "urn:f")]),
])
def test_violations(ctx, policy, resources):
    # make the stack otherwise complete so that only the intended policy fires
    extra = [] if policy == "mlps-l3-dr-backup" else [DR]
    found = engine.check_all(resources + extra, ctx)
    assert ids(found) == [policy], [f.text() for f in found]
    f = found[0]
    assert f.tenant in ("wjw", "rsj") and f.status == "violation"
    assert "MLPS" in f.text() and "GB/T" in f.text() and f"tenant {f.tenant}" in f.text()


def test_unknown_values_do_not_fire(ctx):
    res = [sg_rule("wjw-app-x", remoteIpPrefix=engine.UNKNOWN, remoteGroupId=engine.UNKNOWN),
           server("wjw-a", imageName=engine.UNKNOWN, userData=engine.UNKNOWN),
           Res("openstack:blockstorage/volume:Volume", "wjw-v", {"volumeType": engine.UNKNOWN}), DR]
    assert engine.check_all(res, ctx) == []


def _waivers(expires):
    return waivers.parse({"waivers": [{"rule": "mlps-hardened-image", "scope": "wjw-legacy*",
                                       "justification": "vendor appliance until refresh", "approver": "张伟",
                                       "expires": expires}]})


def test_active_waiver_marks_waived(ctx):
    ctx.waivers = _waivers("2027-06-30")
    found = engine.check_all([server("wjw-legacy-1", imageName="vendor"), server("wjw-other", imageName="v")], ctx)
    by_res = {f.resource: f for f in found}
    assert by_res["wjw-legacy-1"].status == "waived" and not by_res["wjw-legacy-1"].blocking
    assert by_res["wjw-legacy-1"].severity == "advisory"
    assert "WAIVED" in by_res["wjw-legacy-1"].text() and "vendor appliance" in by_res["wjw-legacy-1"].text()
    assert by_res["wjw-other"].status == "violation"


def test_expired_waiver_still_blocks(ctx):
    ctx.waivers = _waivers("2026-01-01")
    (f,) = engine.check_all([server("wjw-legacy-1", imageName="vendor"), DR], ctx)
    assert f.status == "expired-waiver" and f.blocking and "EXPIRED on 2026-01-01" in f.text()


def test_waiver_without_approver_is_rejected(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("waivers:\n- {rule: mlps-hardened-image, scope: '*', justification: x, expires: 2027-01-01}\n")
    with pytest.raises(waivers.WaiverError, match="approver"):
        engine.build_context(engine.load_config({"waiversFile": str(path)}), tenants=TENANTS)


def test_config_schema_rejects_bad_values():
    assert engine.config_problems(engine.default_config()) == []
    assert engine.config_problems({**engine.default_config(), "adminPorts": ["ssh"]})
    assert engine.config_problems({"nope": 1})


def test_registry_is_complete():
    reg = engine.registry()
    assert len(reg) >= 11
    for pid, p in reg.items():
        assert pid.startswith("mlps-")
        assert p["severity"] in ("low", "medium", "high", "critical")
        assert p["enforcement"] in ("mandatory", "advisory", "disabled")
        assert p["scope"] in ("resource", "stack")
        assert any(ref.startswith("GB/T 22239-2019") for ref in p["mlps"])
        assert any(ref.startswith("GB/T 28448-2019") for ref in p["mlps"])
        assert p["description"] and p["remediation"]
