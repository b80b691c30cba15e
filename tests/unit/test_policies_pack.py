"""The pack's glue (policies/pack.py) with PolicyResource-like objects, as the analyzer would call it."""

from types import SimpleNamespace

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy

from policies import engine, pack

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # Pulumi's unknown-value sentinel


@pytest.fixture(autouse=True)
def no_waivers(monkeypatch, tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("waivers: []\n")
    monkeypatch.setenv("GOVCLOUD_WAIVERS", str(f))
    pack._contexts.clear()
    yield
    pack._contexts.clear()


def policies():
    return {p.name: p for p in pack.build_policies()}


def test_every_policy_registered_with_waived_twin():
    ps = policies()
    for pid, spec in engine.registry().items():
        main, twin = ps[pid], ps[f"{pid}-waived"]
        assert main.enforcement_level == EnforcementLevel.MANDATORY
        assert twin.enforcement_level == EnforcementLevel.ADVISORY
        kind = ResourceValidationPolicy if spec["scope"] == "resource" else StackValidationPolicy
        assert isinstance(main, kind) and spec["mlps"][0] in main.description
    assert "mlps-pack-config" in ps


def _resource_args(rtype, name, props):
    return SimpleNamespace(resource_type=rtype, name=name, urn=f"urn:{name}",
                           props=unknown_checking_proxy(props), get_config=lambda: {})


def test_resource_policy_reports_and_tolerates_unknowns():
    ps = policies()
    seen = []
    args = _resource_args(engine.T_SG_RULE, "wjw-app-ssh-any",
                          {"direction": "ingress", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22,
                           "remoteIpPrefix": "0.0.0.0/0", "securityGroupId": UNKNOWN})
    ps["mlps-sg-no-open-admin-ports"].validate(args, lambda m, u=None: seen.append((m, u)))
    ps["mlps-sg-no-open-admin-ports-waived"].validate(args, lambda m, u=None: seen.append(("waived", m)))
    assert len(seen) == 1 and "tenant wjw, resource wjw-app-ssh-any" in seen[0][0] and seen[0][1] == "urn:wjw-app-ssh-any"
    seen.clear()
    unknown = _resource_args(engine.T_INSTANCE, "wjw-a", {"imageName": UNKNOWN, "keyPair": "k", "userData": UNKNOWN,
                                                          "metadata": {"department": "d", "mlps_level": "3",
                                                                       "owner": "o", "data_location": "CN-SD"}})
    for pid in ("mlps-hardened-image", "mlps-key-login", "mlps-metadata-required"):
        ps[pid].validate(unknown, lambda m, u=None: seen.append(m))
    assert seen == []


def test_stack_policy_uses_property_dependencies():
    ps = policies()
    net = SimpleNamespace(resource_type=engine.T_NETWORK, name="wjw-mgmt", urn="urn:n", props=unknown_checking_proxy({}),
                          property_dependencies={}, dependencies=[])
    port = SimpleNamespace(resource_type=engine.T_PORT, name="wjw-bastion", urn="urn:p",
                           props=unknown_checking_proxy({"networkId": UNKNOWN}),
                           property_dependencies={"networkId": [net]}, dependencies=[net])
    fip = SimpleNamespace(resource_type=engine.T_FIP_ASSOC, name="wjw-bastion-fip", urn="urn:f",
                          props=unknown_checking_proxy({"portId": UNKNOWN, "floatingIp": "172.24.4.9"}),
                          property_dependencies={"portId": [port]}, dependencies=[port])
    args = SimpleNamespace(resources=[net, port, fip], get_config=lambda: {})
    seen = []
    ps["mlps-mgmt-no-floating-ip"].validate(args, lambda m, u=None: seen.append((m, u)))
    assert len(seen) == 1 and "management zone mgmt" in seen[0][0] and seen[0][1] == "urn:f"


def test_bad_waivers_block_through_pack_config(monkeypatch, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("waivers:\n- {rule: mlps-key-login, scope: '*', approver: x, expires: 2030-01-01}\n")
    monkeypatch.setenv("GOVCLOUD_WAIVERS", str(f))
    seen = []
    policies()["mlps-pack-config"].validate(SimpleNamespace(resources=[], get_config=lambda: {}),
                                            lambda m, u=None: seen.append(m))
    assert len(seen) == 1 and "justification" in seen[0]


def test_stack_policy_falls_back_to_inputs_seen_per_resource():
    """In preview, resources under a not-yet-known provider reach the stack analysis with empty props."""
    ps = policies()
    inputs = {"name": "wjw-backup", "region": "dr"}
    ps["mlps-hardened-image"].validate(_resource_args(engine.T_CONTAINER, "wjw-backup", inputs), lambda m, u=None: None)
    container = SimpleNamespace(resource_type=engine.T_CONTAINER, name="wjw-backup", urn="urn:wjw-backup",
                                props=unknown_checking_proxy({}), property_dependencies={}, dependencies=[])
    seen = []
    ps["mlps-l3-dr-backup"].validate(SimpleNamespace(resources=[container], get_config=lambda: {}),
                                     lambda m, u=None: seen.append(m))
    assert seen == []
    pack._inputs.clear()
    ps["mlps-l3-dr-backup"].validate(SimpleNamespace(resources=[container], get_config=lambda: {}),
                                     lambda m, u=None: seen.append(m))
    assert len(seen) == 1 and "tenant wjw" in seen[0]
