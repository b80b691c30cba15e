"""Audit evaluation, scores, evidence files, waivers per host/tenant, the runner's event handling."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import yaml

from govcloud import waivers
from govcloud.errors import UserError
from govcloud.hardening import audit, catalog, evidence, runner, service


def _report(level=3, overrides=None, waived=()):
    """A probe report in which every check passes unless overridden ({check id: observed})."""
    params = catalog.effective_params(level, {})
    checks = {}
    good = {"empty": "", "ge": None, "le": None}
    for c in catalog.controls(level):
        for chk in c["checks"]:
            exp = chk["expect"]
            value = catalog._expected_value(exp.get("value"), params)
            if exp["op"] in good and good[exp["op"]] is not None:
                out = good[exp["op"]]
            elif exp["op"] in ("ge", "le", "eq"):
                out = str(value)
            elif exp["op"] == "in":
                out = str(value[0])
            elif exp["op"] == "subset":
                out = ",".join(value)
            else:
                out = ""
            checks[chk["id"]] = {"rc": 0, "out": out}
    for k, v in (overrides or {}).items():
        checks[k] = {"rc": 0, "out": v}
    return {"host": "web-1", "level": level, "params": params, "waived": list(waived), "shared_kernel": True,
            "probe": {"checks": checks, "finished": "2026-12-05T05:00:00+0000"}}


def test_all_good_report_scores_100_and_evidence_only_is_not_scored():
    rows = audit.evaluate_host(_report(), tenant="wjw")
    assert len(rows) == 34
    s = audit.score(rows)
    assert s["score"] == 100.0 and s["pass"] == s["scored"] == 22 and s["na"] == 12
    assert {r["verdict"] for r in rows if r["tier"] == "evidence-only"} == {"不适用"}


def test_failures_and_partials():
    rows = audit.evaluate_host(_report(overrides={"pass-max-days": "99999", "faillock-deny": "",
                                                  "faillock-unlock-time": "", "pam-faillock": "0", "shell-tmout": "",
                                                  "sshd-clientaliveinterval": "0", "sshd-maxauthtries": "6",
                                                  "sshd-logingracetime": "120"}))
    by = {r["control"]: r for r in rows}
    assert by["L3-CES1-01"]["verdict"] == "部分符合"
    assert "PASS_MAX_DAYS" in by["L3-CES1-01"]["record"] and "99999" in by["L3-CES1-01"]["record"]
    assert by["L3-CES1-02"]["verdict"] == "不符合"
    s = audit.score(rows)
    assert s["pass"] == 20 and s["partial"] == 1 and s["fail"] == 1 and s["score"] == round(100 * 20.5 / 22, 1)


def test_level2_rows_use_level2_item_ids_and_clauses():
    rows = audit.evaluate_host(_report(level=2))
    assert rows[0]["control"] == "L2-CES1-01" and rows[0]["clause"].endswith("7.1.4.1 a)")
    assert len(rows) == 23


def test_waived_control_is_reported_as_waived():
    w = waivers.Waiver("L3-CES1-16", "wjw", "vendor tool", "张伟", dt.date(2099, 1, 1))
    rows = audit.evaluate_host(_report(overrides={"insecure-packages": "telnet"}),
                               waivers={"L3-CES1-16": {"active": w, "expired": None}})
    row = next(r for r in rows if r["control"] == "L3-CES1-16")
    assert row["verdict"] == "waived" and "张伟" in row["record"]
    assert audit.score(rows)["waived"] == 1 and audit.score(rows)["scored"] == 21


def test_secrets_are_not_in_evidence_and_output_is_truncated():
    rows = audit.evaluate_host(_report(overrides={"no-empty-passwords": "x" * 5000}))
    row = next(r for r in rows if r["control"] == "L3-CES1-01")
    assert len(row["record"]) < 600


def test_evidence_files(tmp_path):
    rows = audit.evaluate_host(_report(overrides={"pass-max-days": "99999"}), tenant="wjw")
    summary = audit.summarize(rows)
    files = evidence.write_all(tmp_path, rows, summary, {"generated": "now"})
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    assert data["summary"]["tenants"]["wjw"]["hosts"] == ["web-1"]
    table = list(csv.reader(io.StringIO(files["csv"].read_text(encoding="utf-8-sig"))))
    assert table[0][:7] == ["序号", "测评对象", "安全控制点", "测评项编号", "测评指标", "结果记录", "符合程度"]
    assert table[1][0] == "1" and table[1][3] == "L3-CES1-01" and table[1][6] == "部分符合"
    html = files["html"].read_text(encoding="utf-8")
    assert "L3-CES1-34" in html and "<script" not in html


def test_resolve_waivers_by_tenant_group_and_host():
    hosts = {"web-1": {"vars": {"tenant": "wjw"}, "groups": ["dept_wjw", "level3"]},
             "db-1": {"vars": {}, "groups": ["level3"]}}
    ws = waivers.parse({"waivers": [
        {"rule": "L2-CES1-11", "scope": "wjw", "justification": "j", "approver": "a", "expires": "2099-01-01"},
        {"rule": "L3-CES1-22", "scope": "level3", "justification": "j", "approver": "a", "expires": "2099-01-01"},
        {"rule": "L3-CES1-17", "scope": "db-*", "justification": "j", "approver": "a", "expires": "2000-01-01"}]})
    resolved = runner.resolve_waivers(hosts, ws)
    assert runner.active_waived(resolved) == {"web-1": ["L3-CES1-16", "L3-CES1-22"], "db-1": ["L3-CES1-22"]}
    assert resolved["db-1"]["L3-CES1-17"]["active"] is None and resolved["db-1"]["L3-CES1-17"]["expired"]


def _inventory(tmp_path, **hostvars):
    inv = {"all": {"children": {"dept_wjw": {"hosts": {"web-1": {"ansible_host": "10.0.0.5", "mlps_level": 3,
                                                                   "tenant": "wjw", **hostvars}}}}}}
    path = tmp_path / "inv.yml"
    path.write_text(yaml.safe_dump(inv), encoding="utf-8")
    return path


def test_plan_builds_waivers_tags_and_level(tmp_path):
    wf = tmp_path / "w.yaml"
    wf.write_text(yaml.safe_dump({"waivers": [{"rule": "L3-CES1-17", "scope": "dept_wjw", "justification": "j",
                                               "approver": "a", "expires": "2099-01-01"}]}), encoding="utf-8")
    p = service.plan(_inventory(tmp_path), controls="L3-CES1-01,l2-ces1-11", waivers_file=wf, level=2)
    assert p.extravars == {"mlps_waivers": {"web-1": ["L3-CES1-17"]}, "mlps_level": 2}
    assert p.tags == ["L2-CES1-01", "L2-CES1-11", "L3-CES1-01", "L3-CES1-16"]
    assert p.hosts["web-1"]["groups"] == ["dept_wjw"]


def test_plan_refuses_weak_parameters_before_running(tmp_path):
    with pytest.raises(UserError, match="web-1: parameters refused"):
        service.plan(_inventory(tmp_path, mlps_pw_minlen=6))


def test_plan_rejects_unknown_limit_and_control(tmp_path):
    inv = _inventory(tmp_path)
    with pytest.raises(UserError, match="matches no host"):
        service.plan(inv, limit="nope")
    with pytest.raises(UserError, match="unknown control id"):
        service.plan(inv, controls="L9-XX")


def test_progress_handler_collects_reports_changes_failures_and_stats():
    out = io.StringIO()
    p = runner.Progress(stream=out, live=True)
    p({"event": "runner_on_ok", "event_data": {"host": "h", "task": "T1", "res": {"changed": True},
                                               "task_path": "/x/playbooks/roles/mlps_auth/tasks/faillock.yml:3"}})
    p({"event": "runner_on_ok", "event_data": {"host": "h", "task": runner.REPORT_TASK,
                                               "res": {"msg": {"host": "h", "level": 3}}}})
    p({"event": "runner_on_failed", "event_data": {"host": "h", "task": "T2", "res": {"msg": "boom"}}})
    p({"event": "runner_on_failed", "event_data": {"host": "h", "task": "T3", "ignore_errors": True, "res": {}}})
    p({"event": "playbook_on_stats", "event_data": {"ok": {"h": 2}, "changed": {"h": 1}, "failures": {"h": 1}}})
    r = p.result
    assert r.changed == {"h": ["T1"]} and r.reports["h"]["level"] == 3
    assert r.changed_paths == {"h": ["roles/mlps_auth/tasks/faillock.yml"]}
    rows = audit.evaluate_host(_report(), pending=r.changed_paths["h"])
    assert [x["control"] for x in rows if x["pending_changes"]] == ["L3-CES1-02"]
    assert r.failures == [{"host": "h", "task": "T2", "msg": "boom", "unreachable": False}]
    assert r.stats["h"] == {"ok": 2, "changed": 1, "failed": 1, "unreachable": 0, "skipped": 0}
    assert "changed  T1" in out.getvalue() and "FAILED   T2" in out.getvalue()


def test_quiet_progress_prints_only_failures():
    out = io.StringIO()
    p = runner.Progress(stream=out, live=False)
    p({"event": "runner_on_ok", "event_data": {"host": "h", "task": "T1", "res": {}}})
    assert out.getvalue() == ""


def test_production_example_inventory_plans_cleanly():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    p = service.plan(repo / "inventories/examples/production.yml",
                     waivers_file=repo / "inventories/examples/waivers.example.yaml", today=dt.date(2027, 1, 1))
    assert set(p.hosts) == {"wjw-his-1", "wjw-his-2", "wjw-db-1", "rsj-app-1"}
    assert p.hosts["rsj-app-1"]["vars"]["mlps_level"] == 2 and p.hosts["wjw-db-1"]["vars"]["mlps_level"] == 3
    assert p.hosts["wjw-db-1"]["vars"]["mlps_mgmt_cidrs"] == ["10.31.0.0/24", "10.32.0.0/24"]
    assert p.extravars["mlps_waivers"]["wjw-his-1"] == ["L3-CES1-16"]
    assert "rsj-app-1" not in p.extravars["mlps_waivers"]
