"""The MLPS pack on the tenants program (infra/) against the lab.

- the example catalog (infra/tenants) previews clean on a throwaway stack;
- a catalog deployed with a cloud description that opens SSH to 0.0.0.0/0 is blocked by `pulumi up` before anything is
  created (checked in the stack state and with openstacksdk), the message names tenant, resource and MLPS item;
- an active waiver turns that violation into a pass marked waived; an expired one does not.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from govcloud import policy as policy_cli
from govcloud import toolchain
from govcloud.paths import REPO

pytestmark = [pytest.mark.lab, pytest.mark.slow]

OPS_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBh3W2bV0yVZl1o8m6x0cJ7d8XW1q3yYwKq9pT0s6x3n citest-policy"


def _pulumi(args, cwd, env, check=True, timeout=300):
    return subprocess.run([*toolchain.pulumi_argv(), *args, "--non-interactive"], cwd=cwd, env=env, check=check,
                          capture_output=True, text=True, timeout=timeout)


class InfraStack:
    """A throwaway stack of the real tenants program, in its own project dir (config stays out of the repo)."""

    def __init__(self, root: Path, name: str, env: dict, config: dict):
        self.root, self.name, self.env = root, name, env
        root.mkdir(parents=True, exist_ok=True)
        main = os.path.relpath(REPO / "infra", root)
        (root / "Pulumi.yaml").write_text(
            f"name: govcloud\nruntime:\n  name: python\n  options:\n    virtualenv: {REPO / '.venv'}\n"
            f"main: {main}\n", encoding="utf-8")
        _pulumi(["stack", "select", "--create", name], root, env)
        for key, value in config.items():
            _pulumi(["config", "set", "--stack", name, f"govcloud:{key}", str(value)], root, env)

    def run(self, command="preview", env=None):
        return policy_cli.run_preview(self.root, self.name, REPO / "policies", env={**self.env, **(env or {})},
                                      command=command, timeout=900)

    def resources(self) -> list[dict]:
        out = _pulumi(["stack", "export", "--stack", self.name], self.root, self.env).stdout
        return json.loads(out).get("deployment", {}).get("resources") or []

    def remove(self):
        if any(r.get("type", "").startswith("openstack:") and r.get("custom") for r in self.resources()):
            _pulumi(["destroy", "--yes", "--stack", self.name], self.root, self.env, check=False, timeout=900)
        _pulumi(["stack", "rm", "--yes", "--force", "--stack", self.name], self.root, self.env, check=False)


@pytest.fixture(scope="module")
def lab_env(openstack_lab, tmp_path_factory):
    cli = Path(toolchain.pulumi_argv()[0])
    assert cli.exists(), f"{cli}: Pulumi CLI missing; run `govcloud setup` first"
    none = tmp_path_factory.mktemp("nowaivers") / "none.yaml"
    none.write_text("waivers: []\n")
    env = toolchain.pulumi_env()
    env.update(GOVCLOUD_WAIVERS=str(none), OS_CLIENT_CONFIG_FILE=str(openstack_lab["clouds_yaml"]))
    return env


def _config(lab, catalog_dir):
    return {"catalogDir": str(catalog_dir), "cloudsYaml": str(lab["clouds_yaml"]), "opsPublicKey": OPS_KEY}


def test_example_catalog_previews_clean(openstack_lab, lab_env, tmp_path):
    stack = InfraStack(tmp_path / "proj", f"citest-policy-example-{uuid.uuid4().hex[:6]}", lab_env,
                       _config(openstack_lab, REPO / "infra" / "tenants"))
    try:
        res = stack.run()
        bad = [e for e in res["events"] if e["enforcement"] == "mandatory"]
        assert bad == [], bad
        assert res["rc"] == 0, res["output"][-4000:]
        assert "error:" not in res["output"].lower() or res["rc"] == 0
    finally:
        stack.remove()


@pytest.fixture(scope="module")
def bad_catalog(tmp_path_factory):
    """One tenant (cipol, from the example wjw) deployed with a cloud description whose business zones admit
    SSH from 'extranet' = 0.0.0.0/0: valid for the catalog loader, caught only by the pack (resource rule)."""
    d = tmp_path_factory.mktemp("catalog") / "tenants"
    d.mkdir()
    t = yaml.safe_load((REPO / "infra/tenants/wjw.yaml").read_text(encoding="utf-8"))
    t["id"] = "cipol"
    t["exchange"] = []
    t["servers"] = []
    t["object_storage"] = []
    t["zones"] = [z for z in t["zones"] if z["kind"] != "database"]
    (d / "cipol.yaml").write_text(yaml.safe_dump(t, allow_unicode=True, sort_keys=False), encoding="utf-8")
    cloud = yaml.safe_load((REPO / "infra/cloud.yaml").read_text(encoding="utf-8"))
    cloud["extranet_cidr"] = "0.0.0.0/0"
    cloud["zone_kinds"]["business"]["ingress"].append({"from": "extranet", "protocol": "tcp", "ports": [22]})
    # the program's govcloud:cloudFile (the catalog loader keeps checking the catalog against infra/cloud.yaml)
    (d.parent / "cloud-open-ssh.yaml").write_text(yaml.safe_dump(cloud, allow_unicode=True, sort_keys=False),
                                                 encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def bad_stack(openstack_lab, lab_env, bad_catalog, tmp_path_factory):
    stack = InfraStack(tmp_path_factory.mktemp("proj"), f"citest-policy-block-{uuid.uuid4().hex[:6]}", lab_env,
                       {**_config(openstack_lab, bad_catalog), "cloudFile": str(bad_catalog.parent / "cloud-open-ssh.yaml")})
    yield stack
    stack.remove()


@pytest.fixture(scope="module")
def pack_config(bad_catalog):
    """The pack also reads govcloud:catalogDir from the stack; the explicit pack config makes it independent
    of whether the engine passes stack config to analyzers."""
    f = bad_catalog.parent / "pack-config.yaml"
    f.write_text(yaml.safe_dump({"catalogDir": str(bad_catalog)}), encoding="utf-8")
    return {"GOVCLOUD_POLICY_CONFIG": str(f)}


def _waivers(tmp_path: Path, expires: dt.date) -> dict:
    f = tmp_path / "waivers.yaml"
    f.write_text(yaml.safe_dump({"waivers": [{
        "rule": "mlps-sg-no-open-admin-ports", "scope": "cipol-*",
        "justification": "citest: vendor jump host until the 2027 refresh", "approver": "张伟 (security officer)",
        "expires": expires.isoformat()}]}, allow_unicode=True), encoding="utf-8")
    return {"GOVCLOUD_WAIVERS": str(f)}


def test_violation_blocks_before_anything_is_created(openstack_lab, bad_stack, pack_config):
    res = bad_stack.run("up", env=pack_config)
    assert res["rc"] != 0, res["output"][-3000:]
    hits = [e for e in res["events"] if e["policy"] == "mlps-sg-no-open-admin-ports" and e["enforcement"] == "mandatory"]
    assert hits, res["output"][-4000:]
    assert hits[0]["tenant"] == "cipol" and hits[0]["resource"].startswith("cipol-app")
    assert "port(s) 22" in hits[0]["message"]
    assert "GB/T 22239-2019 8.1.3.2" in hits[0]["message"] and "L3-ABS1-05" in hits[0]["message"]
    # nothing was created: not in the stack state, not in OpenStack
    assert [r for r in bad_stack.resources() if r.get("custom") and r["type"].startswith("openstack:")] == []
    import openstack.config
    import openstack.connection

    region = openstack.config.OpenStackConfig(config_files=[str(openstack_lab["clouds_yaml"])]).get_one(
        cloud="govcloud-admin", region_name="primary")
    conn = openstack.connection.Connection(config=region)
    assert conn.identity.find_project("cipol") is None
    assert [n.name for n in conn.network.networks() if n.name.startswith("cipol-")] == []
    assert [g.name for g in conn.network.security_groups() if g.name.startswith("cipol-")] == []


def test_active_waiver_passes_marked_waived(bad_stack, tmp_path, pack_config):
    res = bad_stack.run("preview", env={**pack_config, **_waivers(tmp_path, dt.date.today() + dt.timedelta(days=30))})
    assert [e for e in res["events"] if e["enforcement"] == "mandatory"] == [], res["output"][-3000:]
    assert res["rc"] == 0, res["output"][-3000:]
    waived = [e for e in res["events"] if e["status"] == "waived"]
    assert waived and waived[0]["policy"] == "mlps-sg-no-open-admin-ports"
    assert waived[0]["enforcement"] == "advisory" and waived[0]["resource"].startswith("cipol-app")
    assert "citest: vendor jump host" in waived[0]["message"]


def test_expired_waiver_still_blocks(bad_stack, tmp_path, pack_config):
    res = bad_stack.run("preview", env={**pack_config, **_waivers(tmp_path, dt.date.today() - dt.timedelta(days=1))})
    assert res["rc"] != 0
    hits = [e for e in res["events"] if e["policy"] == "mlps-sg-no-open-admin-ports" and e["enforcement"] == "mandatory"]
    assert hits and "EXPIRED" in hits[0]["message"], res["output"][-3000:]


def test_policy_report_runs_the_pack(bad_stack, bad_catalog, pack_config, lab_env, monkeypatch, capsys):
    """`govcloud policy report --stack ... --json`: results per tenant and MLPS item from the real preview."""
    for key in ("GOVCLOUD_WAIVERS", "OS_CLIENT_CONFIG_FILE", "PULUMI_HOME", "PULUMI_BACKEND_URL"):
        monkeypatch.setenv(key, lab_env[key])
    monkeypatch.setenv("GOVCLOUD_POLICY_CONFIG", pack_config["GOVCLOUD_POLICY_CONFIG"])
    rc = policy_cli.main_for_test(["report", "--stack", bad_stack.name, "--workdir", str(bad_stack.root),
                                   "--catalog", str(bad_catalog), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["blocking"] >= 1 and "pulumi preview" in out["mode"]
    entry = out["tenants"]["cipol"]["mlps-sg-no-open-admin-ports"]
    assert entry["status"] == "fail" and any("L3-ABS1-05" in ref for ref in entry["mlps"])
    assert entry["findings"][0]["resource"].startswith("cipol-app")
    assert out["tenants"]["cipol"]["mlps-key-login"]["status"] == "pass"
