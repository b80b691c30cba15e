"""The catalog-level subset (policies.catalog_checks) and its use by `govcloud tenants validate`."""

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from govcloud import policy as policy_cli
from govcloud.paths import REPO
from policies import catalog_checks, engine

CATALOG = REPO / "infra" / "tenants"


def tenants():
    """The example catalog after infra.catalog's defaults (what `tenants validate` passes)."""
    from infra import catalog

    return copy.deepcopy(catalog.load(CATALOG, check=False).tenants)


def config():
    return {"quota_classes": yaml.safe_load((REPO / "infra/quota_classes.yaml").read_text()),
            "backup_classes": yaml.safe_load((REPO / "infra/backup_classes.yaml").read_text())}


@pytest.fixture(autouse=True)
def no_waivers(monkeypatch, tmp_path):
    empty = tmp_path / "none.yaml"
    empty.write_text("waivers: []\n")
    monkeypatch.setenv("GOVCLOUD_WAIVERS", str(empty))


def level3(ts):
    return next(t for t in ts if t.get("mlps_level") == 3 and t.get("servers"))


def test_example_catalog_is_clean():
    assert catalog_checks.check(tenants(), config()) == []


@pytest.mark.parametrize("policy,mutate", [
    ("mlps-metadata-required", lambda t: t.update(data_location="US-CA")),
    ("mlps-metadata-required", lambda t: t.update(owner="")),
    ("mlps-hardened-image", lambda t: t["servers"][0].update(image="ubuntu-24.04")),
    ("mlps-key-login", lambda t: t["servers"][0].update(user_data="#cloud-config\nchpasswd:\n  expire: false\n")),
    ("mlps-l3-volume-encrypted", lambda t: t["servers"][0]["volumes"][0].update(type="standard")),
    ("mlps-l3-dr-backup", lambda t: t.update(backup_class="bronze")),
    ("mlps-quota-ceiling", lambda t: t.update(quota_class="large", quota_multiplier=4)),
    ("mlps-mgmt-business-separation", lambda t: t["zones"].append(
        {"name": "app2", "kind": "business", "cidr": t["zones"][0]["cidr"]})),
    ("mlps-no-undeclared-cross-tenant", lambda t: t.setdefault("exchange", []).append(
        {"to": "nosuch", "from_zone": "app", "to_zone": "app", "protocol": "tcp", "ports": [443]})),
])
def test_each_catalog_violation(policy, mutate):
    ts = tenants()
    t = level3(ts)
    mutate(t)
    found = catalog_checks.check(ts, config())
    assert {f.policy for f in found} == {policy}, [f.message for f in found]
    f = found[0]
    assert f.tenant == t["id"] and f.field and "MLPS: GB/T" in f.message and f.severity != "advisory"


def test_waivers_in_catalog_checks(tmp_path, monkeypatch):
    ts = tenants()
    t = level3(ts)
    t["servers"][0]["image"] = "vendor-appliance"
    wf = tmp_path / "waivers.yaml"
    entry = {"rule": "mlps-hardened-image", "scope": f"{t['id']}-*", "justification": "vendor appliance",
             "approver": "张伟", "expires": "2999-12-31"}
    wf.write_text(yaml.safe_dump({"waivers": [entry]}, allow_unicode=True))
    monkeypatch.setenv("GOVCLOUD_WAIVERS", str(wf))
    (f,) = catalog_checks.check(ts, config())
    assert f.severity == "advisory" and "WAIVED" in f.message
    entry["expires"] = "2020-01-01"
    wf.write_text(yaml.safe_dump({"waivers": [entry]}, allow_unicode=True))
    (f,) = catalog_checks.check(ts, config())
    assert f.severity != "advisory" and "EXPIRED on 2020-01-01" in f.message
    fs = catalog_checks.findings(ts, config(), today=dt.date(2019, 1, 1))
    assert fs[0].status == "waived"


def test_tenants_validate_uses_catalog_checks(tmp_path, monkeypatch):
    """infra.catalog.validate reports the policy finding with file, field and MLPS item."""
    from infra import catalog

    cat = tmp_path / "tenants"
    cat.mkdir()
    for p in CATALOG.glob("*.yaml"):
        (cat / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    t = level3(tenants())
    doc = yaml.safe_load((cat / f"{t['id']}.yaml").read_text())
    doc["servers"][0]["image"] = "ubuntu-24.04"
    (cat / f"{t['id']}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    # the image must also be a known cloud image, or the catalog's own check fires first
    problems = [p for p in catalog.validate(cat) if p.source == "policy"]
    assert problems and "mlps-hardened-image" in problems[0].message and "GB/T" in problems[0].message


def test_policy_list_json(capsys):
    assert policy_cli.main_for_test(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == set(engine.registry())
    assert all(r["mlps"] and r["severity"] and r["enforcement"] for r in rows)


def test_policy_report_offline(capsys, tmp_path):
    cat = tmp_path / "tenants"
    cat.mkdir()
    raw = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(CATALOG.glob("*.yaml"))]
    t = level3(raw)
    t["backup_class"] = "bronze"
    for x in raw:
        (cat / f"{x['id']}.yaml").write_text(yaml.safe_dump(x, allow_unicode=True))
    rc = policy_cli.main_for_test(["report", "--offline", "--catalog", str(cat), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["blocking"] == 1
    assert out["tenants"][t["id"]]["mlps-l3-dr-backup"]["status"] == "fail"
    assert out["tenants"][t["id"]]["mlps-hardened-image"]["status"] == "pass"


def test_parse_events():
    lines = [json.dumps({"policyEvent": {"policyName": "mlps-hardened-image", "enforcementLevel": "mandatory",
                                         "resourceUrn": "urn:x", "message": "Servers...\n[mlps-hardened-image] "
                                         "tenant wjw, resource wjw-a: image u is not ok (MLPS: x)"}}),
             json.dumps({"policyEvent": {"policyName": "mlps-key-login-waived", "enforcementLevel": "advisory",
                                         "message": "d\nWAIVED [mlps-key-login] tenant gaj, resource gaj-b: m"}}),
             "not json", json.dumps({"diagnosticEvent": {}})]
    ev = policy_cli.parse_events(lines)
    assert [(e["policy"], e["tenant"], e["resource"], e["status"]) for e in ev] == [
        ("mlps-hardened-image", "wjw", "wjw-a", "violation"), ("mlps-key-login", "gaj", "gaj-b", "waived")]


def test_pack_config_passes_schema():
    cfg = copy.deepcopy(engine.default_config())
    assert engine.config_problems(cfg) == []
    assert Path(engine.PACK_DIR / "PulumiPolicy.yaml").exists()


def test_example_waivers_file_is_valid():
    from govcloud import waivers

    loaded = waivers.load(REPO / "waivers.example.yaml")
    assert loaded and all(w.rule in engine.registry() for w in loaded)
