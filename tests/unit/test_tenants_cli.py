"""`govcloud tenants` glue: validate output and exit codes, drift attribution, stack inventory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from govcloud import cli, stack_inventory, tenants

REPO = Path(__file__).resolve().parents[2]


def test_validate_example_ok(capsys):
    assert cli.main(["tenants", "validate"]) == 0
    assert "catalog OK: 10 tenants" in capsys.readouterr().out


def test_validate_reports_file_line_field_json(tmp_path, capsys):
    d = tmp_path / "t"
    shutil.copytree(REPO / "infra/tenants", d)
    text = (d / "jyj.yaml").read_text(encoding="utf-8").replace("image: debian-12-hardened", "image: centos-7")
    (d / "jyj.yaml").write_text(text, encoding="utf-8")
    (d / "hbj.yaml").unlink()
    assert cli.main(["tenants", "validate", "--catalog", str(d), "--json", "--no-policies"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert not out["valid"]
    img = [p for p in out["problems"] if p["field"] == "servers[0].image"][0]
    assert img["file"].endswith("jyj.yaml") and img["line"] == 18 and "centos-7" in img["message"]
    assert cli.main(["tenants", "validate", "--catalog", str(d), "--no-policies"]) == 1
    assert "jyj.yaml:18: servers[0].image: unknown image 'centos-7'" in capsys.readouterr().out


def test_drift_steps_are_attributed_per_tenant():
    steps = [
        {"op": "same", "urn": "urn:pulumi:lab::govcloud::govcloud:tenants:Tenant$openstack:networking/network:Network::wjw-app"},
        {"op": "create", "urn": "urn:pulumi:lab::govcloud::govcloud:tenants:Tenant$openstack:networking/secGroupRule:SecGroupRule::wjw-app-ssh-ops"},
        {"op": "update", "urn": "urn:pulumi:lab::govcloud::govcloud:tenants:Tenant$openstack:networking/network:Network::gaj-db",
         "diffReasons": ["name"]},
        {"op": "update", "urn": "urn:pulumi:lab::govcloud::govcloud:tenants:Tenant$pulumi:providers:openstack::gaj-primary"},
    ]
    per = tenants.summarize_steps(steps, {"wjw", "gaj"})
    assert set(per) == {"wjw", "gaj"}
    assert per["gaj"] == [{"op": "update", "urn": steps[2]["urn"], "type": "openstack:networking/network:Network",
                           "name": "gaj-db", "diffs": ["name"]}]
    assert tenants.summarize_steps(steps[:1], {"wjw"}) == {}


def test_stack_inventory_groups(tmp_path):
    outputs = {"tenants": {"wjw": {"name": "聊城市卫生和计划生育委员会", "level": 3, "data_location": "CN-SD-Liaocheng",
                                   "hosts": [{"name": "wjw-his-1", "address": "10.17.1.5", "zone": "app",
                                              "zone_kind": "business", "level": 3, "role": "his"}]},
                           "jtj": {"name": "聊城市交通运输局", "level": 2,
                                   "hosts": [{"name": "jtj-portal-1", "address": "10.20.1.4", "zone": "dmz",
                                              "zone_kind": "dmz", "level": 2, "role": "portal"}]}},
               "backup_targets": {"wjw": {"backup_class": "gold"}}}
    path = stack_inventory.write(outputs, "citest", tmp_path / "inv.yml")
    inv = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups = inv["all"]["children"]["stack_citest"]["children"]
    assert set(groups) >= {"tenant_wjw", "tenant_jtj", "mlps_level_3", "mlps_level_2", "zone_business",
                           "zone_wjw_app", "zone_jtj_dmz"}
    hv = groups["tenant_wjw"]["hosts"]["wjw-his-1"]
    assert hv["ansible_host"] == "10.17.1.5" and hv["mlps_level"] == 3 and hv["backup_class"] == "gold"
    assert list(groups["mlps_level_2"]["hosts"]) == ["jtj-portal-1"]
