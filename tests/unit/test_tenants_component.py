"""The Pulumi program under Pulumi's mocks: what `pulumi up` would register for the example catalog."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pulumi
import pytest
import yaml

from infra import catalog

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "infra" / "tenants"


class Mocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.resources: list[dict] = []
        self.calls: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ == "openstack:compute/instance:Instance":
            state["accessIpV4"] = f"10.99.0.{len(self.resources) % 250 + 1}"
        if args.typ == "openstack:identity/applicationCredential:ApplicationCredential":
            state["secret"] = "s3cr3t-" + args.name
        self.resources.append({"type": args.typ, "name": args.name, "inputs": dict(args.inputs),
                               "provider": args.provider})
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append(args.token)
        if args.token == "openstack:identity/getAuthScope:getAuthScope":
            return {"userId": "admin-user-id", "name": "govcloud"}
        if args.token == "openstack:identity/getRole:getRole":
            return {"id": "role-" + args.args["name"], "name": args.args["name"]}
        if args.token == "openstack:identity/getProject:getProject":
            return {"id": "domain-city", "name": args.args["name"]}
        if args.token == "openstack:networking/getNetwork:getNetwork":
            return {"id": "net-public-" + str(args.args.get("region")), "name": "public"}
        return {}


def _run(tmp_path: Path, catalog_dir: Path, extra: dict | None = None, mocks: Mocks | None = None) -> Mocks:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {"govcloud-admin": {"auth": {
        "auth_url": "http://127.0.0.1:5000/v3", "username": "admin", "password": "pw",
        "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}}}}))
    mocks = mocks or Mocks()
    pulumi.runtime.set_mocks(mocks, project="govcloud", stack="unit", preview=False)
    config = {"govcloud:catalogDir": str(catalog_dir), "govcloud:cloudsYaml": str(clouds),
              "govcloud:opsPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUnitTestKey ops@govcloud"}
    config.update(extra or {})
    pulumi.runtime.set_all_config(config)
    from infra import program

    @pulumi.runtime.test
    def go():
        components = program.run()
        return pulumi.Output.all(*[pulumi.Output.from_input(c.hosts) for c in components.values()])

    go()
    return mocks


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("example"), EXAMPLE)


def of_type(mocks: Mocks, suffix: str) -> list[dict]:
    return [r for r in mocks.resources if r["type"].endswith(suffix)]


def test_one_component_and_project_per_tenant(example):
    cat = catalog.load(EXAMPLE)
    comps = of_type(example, "govcloud:tenants:Tenant")
    assert sorted(r["name"] for r in comps) == sorted(t["id"] for t in cat.tenants)
    projects = {r["inputs"]["name"]: r["inputs"] for r in of_type(example, "identity/project:Project")}
    assert set(projects) == {t["id"] for t in cat.tenants}
    wjw = projects["wjw"]
    assert wjw["domainId"] == "domain-city"
    assert "mlps_level=3" in wjw["tags"] and "credit_code=113715000052601866" in wjw["tags"]
    assert any(tag.startswith("department=聊城市卫生") for tag in wjw["tags"])
    assert "113715000052601866" in wjw["description"]


def test_separated_admin_duties_have_distinct_roles(example):
    groups = {r["inputs"]["name"] for r in of_type(example, "identity/groupV3:GroupV3")}
    assert {"gaj-system_admin", "gaj-security_admin", "gaj-audit_admin"} <= groups
    roles = {r["name"]: r["inputs"]["roleId"] for r in of_type(example, "identity/roleAssignment:RoleAssignment")
             if r["name"].startswith("gaj-") and "groupId" in r["inputs"]}
    assert roles["gaj-system_admin-member"] == "role-member"
    assert roles["gaj-audit_admin-reader"] == "role-reader"
    assert roles["gaj-security_admin-security_admin"] == "govcloud-security-role-id"
    assert len(set(roles.values())) == 3


def test_quotas_are_class_times_multiplier(example):
    qc = yaml.safe_load((REPO / "infra/quota_classes.yaml").read_text())
    compute = {r["name"]: r["inputs"] for r in of_type(example, "compute/quotaSetV2:QuotaSetV2")}
    assert compute["zjj-quota-compute"]["instances"] == -(-qc["small"]["instances"] * 3 // 2)
    assert compute["gaj-quota-compute"]["cores"] == qc["large"]["cores"]
    net = {r["name"]: r["inputs"] for r in of_type(example, "networking/quotaV2:QuotaV2")}
    assert net["sjj-quota-network"]["network"] == -(-qc["small"]["networks"] // 2)


def test_networks_subnets_per_zone_and_region(example):
    cat = catalog.load(EXAMPLE)
    subnets = {r["inputs"]["name"]: r["inputs"] for r in of_type(example, "networking/subnet:Subnet")}
    for t in cat.tenants:
        for z in t["zones"]:
            assert subnets[f"{t['id']}-{z['name']}"]["cidr"] == z["cidr"]
            assert subnets[f"{t['id']}-{z['name']}"]["region"] == "primary"
    assert subnets["wjw-db-dr"]["region"] == "dr"  # the declared DR replica zone
    routers = {r["inputs"]["name"]: r["inputs"] for r in of_type(example, "networking/router:Router")}
    assert routers["wjw-router-dr"]["externalNetworkId"] == "net-public-dr"
    assert routers["gaj-router"]["externalNetworkId"] == "net-public-primary"


def test_security_rules_never_open_management_or_database_ports(example):
    ops = ipaddress.ip_network("10.250.0.0/24")
    for r in of_type(example, "networking/secGroupRule:SecGroupRule"):
        i = r["inputs"]
        net = ipaddress.ip_network(i["remoteIpPrefix"])
        assert net.prefixlen >= 12, r["name"]
        assert i["direction"] == "ingress" and i.get("portRangeMin") == i.get("portRangeMax")
        if i.get("portRangeMin") == 22 and "-x-" not in r["name"]:
            # ssh only from ops or from the tenant's own management zone
            assert net == ops or r["name"].endswith("-from-mgmt"), r["name"]
        if i.get("portRangeMin") in (3306, 5432):
            assert "-db-" in r["name"] and r["name"].endswith("-from-app")


def test_exchange_links_are_exact(example):
    rules = {r["name"]: r["inputs"] for r in of_type(example, "secGroupRule:SecGroupRule") if "-x-" in r["name"]}
    assert set(rules) == {"rsj-app-x-wjw-app-tcp443", "mzj-app-x-gaj-app-tcp443",
                          "wjw-app-x-rsj-app-tcp443", "jtj-app-x-fgw-app-tcp443"}
    assert rules["rsj-app-x-wjw-app-tcp443"]["remoteIpPrefix"] == "10.17.1.0/24"
    assert rules["rsj-app-x-wjw-app-tcp443"]["securityGroupId"] == "rsj-app-id"


def test_servers_metadata_keys_and_anti_affinity(example):
    servers = {r["inputs"]["name"]: r for r in of_type(example, "compute/instance:Instance")}
    assert len(servers) == 12
    his = servers["wjw-his-1"]["inputs"]
    assert his["metadata"]["mlps_level"] == "3" and his["metadata"]["zone"] == "app"
    assert his["metadata"]["data_location"].startswith("CN-")
    assert his["keyPair"] == "wjw-ops" and "adminPass" not in his and "userData" not in his
    assert his["schedulerHints"][0]["group"] == "wjw-his-id"
    groups = {r["inputs"]["name"]: r["inputs"] for r in of_type(example, "compute/serverGroup:ServerGroup")}
    assert groups["wjw-his"]["policies"] == "anti-affinity"
    assert not any(n.startswith("jtj-") for n in groups)  # level 2: no server groups
    assert "schedulerHints" not in servers["jtj-portal-1"]["inputs"]
    # servers are created inside the tenant project (tenant-scoped provider), not the admin project
    assert "wjw-primary" in servers["wjw-his-1"]["provider"]


def test_volumes_encrypted_for_level3(example):
    vols = {r["inputs"]["name"]: r["inputs"] for r in of_type(example, "blockstorage/volume:Volume")}
    assert vols["wjw-his-2-data"]["volumeType"] == "encrypted"
    assert vols["hbj-monitor-1-data"]["volumeType"] == "standard"
    attaches = of_type(example, "compute/volumeAttach:VolumeAttach")
    assert len(attaches) == len(vols)


def test_backup_containers_in_dr_and_credential(example):
    conts = {r["inputs"]["name"]: r for r in of_type(example, "objectstorage/container:Container")}
    assert {"wjw-backup", "wjw-records", "sjj-archive"} <= set(conts)
    for r in conts.values():
        assert r["inputs"]["region"] == "dr" and r["inputs"]["versioning"] is True
        assert int(r["inputs"]["metadata"]["quota-bytes"]) > 0
        assert r["provider"].split("::")[-2].endswith("-dr")
    creds = of_type(example, "identity/applicationCredential:ApplicationCredential")
    assert len(creds) == 10 and all(c["inputs"]["roles"] == ["member", "reader"] for c in creds)


def test_every_resource_name_starts_with_tenant_id(example):
    ids = {t["id"] for t in catalog.load(EXAMPLE).tenants}
    for r in example.resources:
        if r["type"].startswith("pulumi:providers:") and r["name"] in ("primary", "dr"):
            continue
        if r["name"] == "govcloud-security-role":
            continue
        assert r["name"].split("-")[0] in ids, r["name"]


def test_invalid_catalog_registers_nothing(tmp_path):
    bad = tmp_path / "tenants"
    shutil.copytree(EXAMPLE, bad)
    data = yaml.safe_load((bad / "jtj.yaml").read_text())
    data["zones"][1]["cidr"] = "10.17.1.0/24"  # wjw's app zone
    (bad / "jtj.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    mocks = Mocks()
    with pytest.raises(catalog.InvalidCatalog) as err:
        _run(tmp_path, bad, mocks=mocks)
    assert "jtj.yaml" in str(err.value) and "overlaps" in str(err.value)
    assert mocks.resources == [] and mocks.calls == []
