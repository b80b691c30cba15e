"""The MLPS policy pack through the real engine path: `pulumi preview --policy-pack policies`.

A throwaway Pulumi project in a temp dir declares OpenStack resources from a JSON spec (stacks
`citest-policy-*`). One compliant stack must produce no mandatory policy event; one violating stack
carries one violation per policy and every policy id must show up as mandatory. Tenants and zones come
from a pinned copy of two example tenants (wjw and rsj, both level 3; link wjw:app -> rsj:app tcp/443).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml

from govcloud import policy as policy_cli
from govcloud import toolchain
from govcloud.paths import REPO
from policies import engine

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PROGRAM = textwrap.dedent('''
    """Throwaway program for policy tests: resources from spec.json; "ref:NAME" -> that resource's id."""
    import json

    import pulumi
    import pulumi_openstack as ostk
    import yaml

    spec = json.load(open("spec.json", encoding="utf-8"))
    entry = yaml.safe_load(open(spec["clouds_yaml"], encoding="utf-8"))["clouds"][spec["cloud"]]
    auth = entry["auth"]
    prov = ostk.Provider(
        "lab", auth_url=auth["auth_url"], region="primary", user_name=auth["username"],
        password=pulumi.Output.secret(auth["password"]), tenant_name=auth.get("project_name"),
        user_domain_name=auth.get("user_domain_name") or "Default",
        project_domain_name=auth.get("project_domain_name") or "Default")
    KINDS = {
        "project": ostk.identity.Project, "network": ostk.networking.Network, "secgroup": ostk.networking.SecGroup,
        "rule": ostk.networking.SecGroupRule, "port": ostk.networking.Port,
        "fipassoc": ostk.networking.FloatingIpAssociate, "instance": ostk.compute.Instance,
        "servergroup": ostk.compute.ServerGroup, "volume": ostk.blockstorage.Volume,
        "container": ostk.objectstorage.Container, "rbac": ostk.networking.RbacPolicyV2,
        "quota_compute": ostk.compute.QuotaSetV2,
    }
    made = {}

    def resolve(v):
        if isinstance(v, str) and v.startswith("ref:"):
            return made[v[4:]].id
        if isinstance(v, list):
            return [resolve(x) for x in v]
        if isinstance(v, dict):
            return {k: resolve(x) for k, x in v.items()}
        return v

    for r in spec["resources"]:
        made[r["name"]] = KINDS[r["kind"]](r["name"], opts=pulumi.ResourceOptions(provider=prov),
                                          **resolve(r.get("args", {})))
''')

MD = {"department": "聊城市卫生和计划生育委员会", "mlps_level": "3", "owner": "王建国",
      "data_location": "CN-SD-Liaocheng"}
KEY_UD = "#cloud-config\nssh_pwauth: false\n"


def server(name, **kw):
    args = {"name": name, "flavor_name": "gc.small", "image_name": "debian-12-hardened", "key_pair": "wjw-ops",
            "metadata": dict(MD), "user_data": KEY_UD, "networks": [{"uuid": "ref:wjw-app"}]}
    args.update(kw)
    return {"kind": "instance", "name": name, "args": args}


def rule(name, sg, port, cidr):
    return {"kind": "rule", "name": name, "args": {"security_group_id": f"ref:{sg}", "direction": "ingress",
                                                   "ethertype": "IPv4", "protocol": "tcp", "port_range_min": port,
                                                   "port_range_max": port, "remote_ip_prefix": cidr}}


def base(sfx):
    return [
        {"kind": "network", "name": "wjw-mgmt", "args": {"name": f"wjw-mgmt-{sfx}"}},
        {"kind": "network", "name": "wjw-app", "args": {"name": f"wjw-app-{sfx}"}},
        {"kind": "network", "name": "rsj-app", "args": {"name": f"rsj-app-{sfx}"}},
        {"kind": "secgroup", "name": "wjw-app", "args": {"name": f"wjw-app-{sfx}"}},
        {"kind": "secgroup", "name": "wjw-db", "args": {"name": f"wjw-db-{sfx}"}},
        {"kind": "secgroup", "name": "rsj-app", "args": {"name": f"rsj-app-{sfx}"}},
    ]


def compliant_spec(sfx):
    return base(sfx) + [
        {"kind": "project", "name": "wjw-project",
         "args": {"name": f"wjw-{sfx}", "tags": [f"{k}={v}" for k, v in MD.items()]}},
        {"kind": "quota_compute", "name": "wjw-quota-compute",
         "args": {"project_id": "ref:wjw-project", "instances": 10, "cores": 20, "ram": 32768}},
        rule("wjw-app-ssh-ops", "wjw-app", 22, "10.250.0.0/24"),
        rule("wjw-app-tcp22-from-mgmt", "wjw-app", 22, "10.17.0.0/24"),
        rule("wjw-app-https-any", "wjw-app", 443, "0.0.0.0/0"),
        rule("wjw-db-tcp3306-from-app", "wjw-db", 3306, "10.17.1.0/24"),
        rule("rsj-app-x-wjw-app-tcp443", "rsj-app", 443, "10.17.1.0/24"),
        {"kind": "servergroup", "name": "wjw-his", "args": {"name": f"wjw-his-{sfx}", "policies": "anti-affinity"}},
        server("wjw-his-1", scheduler_hints=[{"group": "ref:wjw-his"}]),
        server("wjw-his-2", scheduler_hints=[{"group": "ref:wjw-his"}]),
        {"kind": "volume", "name": "wjw-his-1-data", "args": {"size": 1, "volume_type": "encrypted"}},
        {"kind": "port", "name": "wjw-app-web", "args": {"network_id": "ref:wjw-app"}},
        {"kind": "fipassoc", "name": "wjw-app-web-fip", "args": {"floating_ip": "172.24.4.10",
                                                                   "port_id": "ref:wjw-app-web"}},
        {"kind": "container", "name": "wjw-backup", "args": {"name": f"wjw-backup-{sfx}", "region": "dr"}},
        {"kind": "container", "name": "rsj-backup", "args": {"name": f"rsj-backup-{sfx}", "region": "dr"}},
        {"kind": "rbac", "name": "rsj-app-share", "args": {"action": "access_as_shared", "object_type": "network",
                                                           "object_id": "ref:rsj-app",
                                                           "target_tenant": "ref:wjw-project"}},
    ]


# one violation per policy (some resources carry two)
VIOLATIONS = {
    "mlps-sg-no-open-admin-ports": "wjw-app-rdp-any",
    "mlps-mgmt-no-floating-ip": "wjw-mgmt-bastion-fip",
    "mlps-mgmt-business-separation": "wjw-db-ssh-from-app",
    "mlps-l3-volume-encrypted": "wjw-his-1-data",
    "mlps-l3-anti-affinity": "wjw-his-1",
    "mlps-l3-dr-backup": None,
    "mlps-metadata-required": "wjw-his-1",
    "mlps-quota-ceiling": "wjw-quota-compute",
    "mlps-hardened-image": "wjw-his-2",
    "mlps-key-login": "wjw-web-1",
    "mlps-no-undeclared-cross-tenant": "rsj-app-https-from-wjwdb",
}


def violating_spec(sfx):
    return base(sfx) + [
        {"kind": "project", "name": "wjw-project",
         "args": {"name": f"wjw-{sfx}", "tags": [f"{k}={v}" for k, v in MD.items()]}},
        {"kind": "quota_compute", "name": "wjw-quota-compute",
         "args": {"project_id": "ref:wjw-project", "instances": 10, "cores": 999}},
        rule("wjw-app-rdp-any", "wjw-app", 3389, "0.0.0.0/0"),
        rule("wjw-db-ssh-from-app", "wjw-db", 22, "10.17.1.0/24"),
        rule("rsj-app-https-from-wjwdb", "rsj-app", 443, "10.17.2.0/24"),
        server("wjw-his-1", metadata={k: v for k, v in MD.items() if k != "data_location"}),
        server("wjw-his-2", image_name="ubuntu-22.04"),
        server("wjw-web-1", key_pair=None, user_data="#cloud-config\nchpasswd:\n  list: root:Passw0rd\n"),
        {"kind": "volume", "name": "wjw-his-1-data", "args": {"size": 1, "volume_type": "standard"}},
        {"kind": "port", "name": "wjw-mgmt-bastion", "args": {"network_id": "ref:wjw-mgmt"}},
        {"kind": "fipassoc", "name": "wjw-mgmt-bastion-fip", "args": {"floating_ip": "172.24.4.11",
                                                                        "port_id": "ref:wjw-mgmt-bastion"}},
        {"kind": "container", "name": "wjw-backup", "args": {"name": f"wjw-backup-{sfx}", "region": "primary"}},
    ]


@pytest.fixture(scope="module")
def pulumi_env(openstack_lab):
    cli = Path(toolchain.pulumi_argv()[0])
    assert cli.exists(), f"{cli}: Pulumi CLI missing; run `govcloud setup` first"
    return toolchain.pulumi_env()


class Project:
    def __init__(self, root: Path, lab: dict, env: dict):
        self.root, self.env = root, dict(env)
        root.mkdir(parents=True, exist_ok=True)
        (root / "Pulumi.yaml").write_text(
            "name: citest-policy\nruntime:\n  name: python\n  options:\n"
            f"    virtualenv: {REPO / '.venv'}\n", encoding="utf-8")
        (root / "__main__.py").write_text(PROGRAM, encoding="utf-8")
        self.lab = lab
        self.stacks: list[str] = []

    def stack(self, name: str, resources: list[dict]) -> str:
        spec = {"clouds_yaml": str(self.lab["clouds_yaml"]), "cloud": "govcloud-admin", "resources": resources}
        (self.root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        if name not in self.stacks:
            for args in (["stack", "select", "--create", name], ["config", "set", "citest:case", name]):
                subprocess.run([*toolchain.pulumi_argv(), *args, "--non-interactive"], cwd=self.root, env=self.env,
                               check=True, capture_output=True, text=True, timeout=120)
            self.stacks.append(name)
        return name

    def run(self, stack: str, command: str = "preview", env: dict | None = None) -> dict:
        return policy_cli.run_preview(self.root, stack, REPO / "policies", env={**self.env, **(env or {})},
                                      command=command, timeout=600)

    def cleanup(self) -> None:
        for name in self.stacks:
            subprocess.run([*toolchain.pulumi_argv(), "stack", "rm", "--yes", "--force", "--stack", name,
                            "--non-interactive"], cwd=self.root, env=self.env, capture_output=True, timeout=300)


def catalog(d: Path) -> Path:
    """wjw (level 3) and rsj (level 3) from the example catalog, pinned to what the specs above assume."""
    d.mkdir(parents=True, exist_ok=True)
    for tid, n, exchange in (("wjw", 17, [{"to": "rsj", "from_zone": "app", "to_zone": "app", "protocol": "tcp",
                                            "ports": [443], "purpose": "citest"}]), ("rsj", 19, [])):
        t = yaml.safe_load((REPO / "infra/tenants" / f"{tid}.yaml").read_text(encoding="utf-8"))
        t.update(mlps_level=3, quota_class="medium", exchange=exchange, zones=[
            {"name": "mgmt", "kind": "management", "cidr": f"10.{n}.0.0/24"},
            {"name": "app", "kind": "business", "cidr": f"10.{n}.1.0/24"},
            {"name": "db", "kind": "database", "cidr": f"10.{n}.2.0/24"}])
        t.pop("quota_multiplier", None)
        (d / f"{tid}.yaml").write_text(yaml.safe_dump(t, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def project(tmp_path_factory, openstack_lab, pulumi_env):
    tmp = tmp_path_factory.mktemp("policy-config")
    empty = tmp / "none.yaml"
    empty.write_text("waivers: []\n")
    cfg = tmp / "pack.yaml"
    cfg.write_text(yaml.safe_dump({"catalogDir": str(catalog(tmp / "tenants"))}), encoding="utf-8")
    env = {**pulumi_env, "GOVCLOUD_WAIVERS": str(empty), "GOVCLOUD_POLICY_CONFIG": str(cfg)}
    p = Project(tmp_path_factory.mktemp("citest-policy"), openstack_lab, env)
    yield p
    p.cleanup()


def mandatory(res: dict) -> list[dict]:
    return [e for e in res["events"] if e["enforcement"] == "mandatory"]


def test_compliant_stack_passes_every_policy(project):
    sfx = uuid.uuid4().hex[:6]
    stack = project.stack(f"citest-policy-ok-{sfx}", compliant_spec(sfx))
    res = project.run(stack)
    assert mandatory(res) == [], res["output"][-3000:]
    assert res["rc"] == 0, res["output"][-3000:]
    # the pack really ran: the engine lists every policy (resource and stack) as passed
    assert set(engine.registry()) | {"mlps-pack-config"} <= res["passed"], sorted(res["passed"])
    assert res["events"] == [], res["events"]


def test_violating_stack_fires_every_policy(project):
    sfx = uuid.uuid4().hex[:6]
    stack = project.stack(f"citest-policy-bad-{sfx}", violating_spec(sfx))
    res = project.run(stack)
    assert res["rc"] != 0
    found = {}
    for e in mandatory(res):
        found.setdefault(e["policy"], []).append(e)
    assert set(VIOLATIONS) <= set(found), (sorted(found), res["output"][-3000:])
    assert "mlps-pack-config" not in found
    assert set(found) <= set(engine.registry())
    for pid, resource in VIOLATIONS.items():
        events = found[pid]
        assert all(e["tenant"] in ("wjw", "rsj") for e in events), events
        if resource:
            assert resource in {e["resource"] for e in events}, (pid, events)
        assert "GB/T" in events[0]["message"], events[0]
