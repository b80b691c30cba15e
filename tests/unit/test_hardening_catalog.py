"""The MLPS catalog as data: coverage of GB/T 28448 items, parameter floors, check evaluation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from govcloud.errors import UserError
from govcloud.hardening import catalog

ROLES = Path(catalog.CATALOG).parents[1] / "roles"
FAMILIES = ["身份鉴别", "访问控制", "安全审计", "入侵防范", "恶意代码防范", "可信验证", "数据完整性", "数据保密性",
            "数据备份恢复", "剩余信息保护", "个人信息保护"]


def test_level3_items_are_complete_and_ordered():
    ids = [c["id"] for c in catalog.controls(3)]
    assert ids == [f"L3-CES1-{i:02d}" for i in range(1, 35)]
    assert [f for f in FAMILIES if f in {c["family"] for c in catalog.controls(3)}] == FAMILIES


def test_level2_items_are_numbered_and_have_no_confidentiality_family():
    l2 = [catalog.item_id(c, 2) for c in catalog.controls(2)]
    assert l2 == [f"L2-CES1-{i:02d}" for i in range(1, 24)]
    assert "数据保密性" not in {c["family"] for c in catalog.controls(2)}


def test_every_control_is_complete():
    for c in catalog.controls():
        assert c["tier"] in catalog.TIERS, c["id"]
        assert re.search(r"[\u4e00-\u9fff]", c["requirement"]) and c["gloss"], c["id"]
        for lv in c["levels"]:
            assert re.match(r"[78]\.1\.4\.\d+ [a-g]\)$", c["clause"][lv]), (c["id"], c["clause"])
        if c["tier"] == "evidence-only":
            assert c["checks"] == [] and c.get("evidence"), c["id"]
        else:
            assert c["checks"], c["id"]
            role = c["remediation"]["role"]
            for task in c["remediation"]["tasks"]:
                assert (ROLES / role / "tasks" / task).exists(), (c["id"], role, task)


def test_every_scored_control_is_a_tag_in_the_roles():
    text = "\n".join(p.read_text(encoding="utf-8") for p in ROLES.glob("mlps_*/tasks/*.yml"))
    for c in catalog.controls():
        if c["tier"] != "evidence-only":
            assert c["id"] in text, c["id"]
            if c.get("l2_id"):
                assert c["l2_id"] in text, c["l2_id"]


def test_every_scored_control_has_a_testinfra_test():
    text = (Path(catalog.CATALOG).parents[2] / "tests/testinfra/test_mlps_controls.py").read_text(encoding="utf-8")
    for c in catalog.controls(3):
        if c["tier"] != "evidence-only":
            assert f"def test_{c['id'].replace('-', '_')}(" in text, c["id"]


def test_defaults_meet_their_own_floors():
    for lv in catalog.LEVELS:
        params = catalog.effective_params(lv, {})
        assert params["level"] == lv
        assert params["log_retention_days"] >= 180
        assert params["pw_minlen"] >= 8 and params["pw_minclass"] >= 3


@pytest.mark.parametrize("override, fragment", [
    ({"mlps_pw_minlen": 6}, "mlps_pw_minlen=6 is weaker than the MLPS level 3 floor"),
    ({"mlps_lockout_deny": 10}, "must be <= 5"),
    ({"mlps_lockout_unlock_time": 60}, "must be >= 600"),
    ({"mlps_idle_timeout": 3600}, "must be <= 600"),
    ({"mlps_log_retention_days": 90}, "must be >= 180"),
    ({"mlps_ssh_permit_root_login": "yes"}, "allows only no, prohibit-password"),
    ({"mlps_mgmt_cidrs": ["0.0.0.0/0"]}, "allows every address"),
    ({"mlps_ssh_macs": ["hmac-md5"]}, "hmac-md5 not allowed"),
])
def test_weak_parameters_are_refused_with_a_clear_message(override, fragment):
    with pytest.raises(catalog.ParamError) as err:
        catalog.effective_params(3, override, where="web-1")
    assert "web-1" in str(err.value) and fragment in str(err.value)


def test_all_problems_reported_at_once_and_level2_floors_are_lower():
    with pytest.raises(catalog.ParamError) as err:
        catalog.effective_params(3, {"mlps_pw_minlen": 6, "mlps_lockout_deny": 9})
    assert "pw_minlen" in str(err.value) and "lockout_deny" in str(err.value)
    assert catalog.effective_params(2, {"mlps_lockout_deny": 9})["lockout_deny"] == 9


def test_stronger_values_and_yaml_booleans_are_accepted():
    p = catalog.effective_params(3, {"mlps_pw_minlen": 16, "mlps_ssh_password_authentication": False,
                                     "mlps_ssh_permit_root_login": False, "unrelated": 1})
    assert p["pw_minlen"] == 16 and p["ssh_password_authentication"] == "no" and p["ssh_permit_root_login"] == "no"


def test_level_must_be_2_or_3():
    with pytest.raises(UserError, match="mlps_level must be 2 or 3"):
        catalog.effective_params(4, {})


def test_canonical_ids():
    assert catalog.canonical("l2-ces1-11") == "L3-CES1-16"
    assert catalog.canonical("L3-CES1-16") == "L3-CES1-16"
    with pytest.raises(UserError, match="unknown control id"):
        catalog.canonical("L3-CES1-99")


def _check(cid: str, control: str = "L3-CES1-01") -> dict:
    return next(k for k in catalog.by_id()[control]["checks"] if k["id"] == cid)


@pytest.mark.parametrize("check_id, control, observed, ok", [
    ("pwquality-minlen", "L3-CES1-01", "12", True),
    ("pwquality-minlen", "L3-CES1-01", "8", False),
    ("pwquality-minlen", "L3-CES1-01", "", False),
    ("pass-max-days", "L3-CES1-01", "99999", False),
    ("pass-max-days", "L3-CES1-01", "90", True),
    ("no-empty-passwords", "L3-CES1-01", "", True),
    ("no-empty-passwords", "L3-CES1-01", "guest", False),
    ("faillock-deny", "L3-CES1-02", "0", False),
    ("faillock-deny", "L3-CES1-02", "3", True),
    ("sshd-permitrootlogin", "L3-CES1-06", "without-password", True),
    ("sshd-permitrootlogin", "L3-CES1-06", "yes", False),
    ("sshd-macs", "L3-CES1-24", "hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com", True),
    ("sshd-macs", "L3-CES1-24", "hmac-sha2-256-etm@openssh.com,hmac-sha1", False),
])
def test_evaluate(check_id, control, observed, ok):
    params = catalog.effective_params(3, {})
    assert catalog.evaluate(_check(check_id, control), observed, params) is ok


def test_expected_text_is_readable():
    params = catalog.effective_params(3, {})
    assert catalog.expected_text(_check("pwquality-minlen"), params) == ">= 12"
    assert catalog.expected_text(_check("no-empty-passwords"), params) == "none"


def test_verdicts():
    assert catalog.control_verdict([True, True]) == "符合"
    assert catalog.control_verdict([True, False]) == "部分符合"
    assert catalog.control_verdict([False]) == "不符合"
    assert catalog.control_verdict([]) == "不适用"


def test_probe_commands_are_read_only():
    writers = re.compile(r"(^|[;&|]\s*)(rm|mv|cp|chmod|chown|sed -i|tee|useradd(?! -D\s*\|)|usermod|systemctl (start|stop|restart|enable))\b|>\s*/(?!dev/null)")
    for chk in catalog.probe_checks(3):
        assert not writers.search(chk["cmd"]), chk


def test_catalog_file_is_plain_yaml():
    data = yaml.safe_load(Path(catalog.CATALOG).read_text(encoding="utf-8"))
    assert data["standard"].startswith("GB/T 22239-2019")
