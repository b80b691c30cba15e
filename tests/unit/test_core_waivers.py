import datetime as dt

import pytest

from govcloud import waivers

GOOD = {
    "rule": "mlps-sg-no-open-admin-ports",
    "scope": "wjw-*",
    "justification": "vendor appliance until the 2027 refresh",
    "approver": "security officer",
    "expires": "2027-06-30",
}


def test_parse_accepts_a_complete_waiver():
    [w] = waivers.parse({"waivers": [GOOD]}, "w.yaml")
    assert w.expires == dt.date(2027, 6, 30)
    assert w.covers("mlps-sg-no-open-admin-ports", ["wjw-app-sg"])
    assert not w.covers("mlps-sg-no-open-admin-ports", ["gaj-app-sg"])
    assert not w.covers("other-rule", ["wjw-app-sg"])


def test_parse_reports_every_problem_at_once_with_file_and_field():
    bad = [dict(GOOD, justification=""), dict(GOOD, approver=None), dict(GOOD, expires="soon"), dict(GOOD, extra=1)]
    with pytest.raises(waivers.WaiverError) as err:
        waivers.parse({"waivers": bad}, "w.yaml")
    text = str(err.value)
    assert "w.yaml: waivers[0].justification: required" in text
    assert "w.yaml: waivers[1].approver: required" in text
    assert "w.yaml: waivers[2].expires: 'soon' is not a date" in text
    assert "w.yaml: waivers[3]: unknown field(s) extra" in text


def test_find_separates_active_and_expired():
    ws = waivers.parse({"waivers": [GOOD, dict(GOOD, scope="gaj-*", expires="2020-01-01")]})
    today = dt.date(2026, 12, 5)
    active, expired = waivers.find(ws, GOOD["rule"], ["wjw-db"], today)
    assert active is not None and expired is None
    active, expired = waivers.find(ws, GOOD["rule"], ["gaj-db"], today)
    assert active is None and expired is not None and expired.expires.year == 2020


def test_load_names_the_file_when_it_is_missing(tmp_path):
    with pytest.raises(waivers.WaiverError, match="nope.yaml: cannot read"):
        waivers.load(tmp_path / "nope.yaml")
