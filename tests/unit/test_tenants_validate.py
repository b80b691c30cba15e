"""`infra.catalog.validate`: every problem at once, each with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import catalog

REPO = Path(__file__).resolve().parents[2]

GOOD_A = """\
id: ta
name: 测试甲局
name_en: Test Bureau A
credit_code: "{code_a}"
mlps_level: 3
owner: 张三
data_location: CN-SD-Liaocheng
contacts:
  - {{duty: system_admin, name: 甲一, phone: 0635-1000001, email: s@ta.lc.gov.cn}}
  - {{duty: security_admin, name: 甲二, phone: 0635-1000002, email: x@ta.lc.gov.cn}}
  - {{duty: audit_admin, name: 甲三, phone: 0635-1000003, email: a@ta.lc.gov.cn}}
quota_class: small
zones:
  - {{name: mgmt, kind: management, cidr: 10.30.0.0/24}}
  - {{name: app, kind: business, cidr: 10.30.1.0/24}}
servers:
  - {{name: web, flavor: gc.small, image: debian-12-hardened, zone: app}}
backup_class: gold
exchange:
  - {{to: tb, from_zone: app, to_zone: app, protocol: tcp, ports: [443]}}
"""

GOOD_B = """\
id: tb
name: 测试乙局
name_en: Test Bureau B
credit_code: "{code_b}"
mlps_level: 2
owner: 李四
data_location: CN-SD-Liaocheng
contacts:
  - {{duty: system_admin, name: 乙一, phone: 0635-2000001, email: s@tb.lc.gov.cn}}
  - {{duty: security_admin, name: 乙二, phone: 0635-2000002, email: x@tb.lc.gov.cn}}
  - {{duty: audit_admin, name: 乙三, phone: 0635-2000003, email: a@tb.lc.gov.cn}}
quota_class: small
zones:
  - {{name: mgmt, kind: management, cidr: 10.31.0.0/24}}
  - {{name: app, kind: business, cidr: 10.31.1.0/24}}
backup_class: bronze
"""

CODE_A = "11371500MB2848571" + catalog.credit_check_char("11371500MB2848571")
CODE_B = "113715000052601866"


def write(d: Path, a: str = GOOD_A, b: str = GOOD_B, **extra: str) -> Path:
    d.mkdir(exist_ok=True)
    (d / "ta.yaml").write_text(a.format(code_a=CODE_A), encoding="utf-8")
    (d / "tb.yaml").write_text(b.format(code_b=CODE_B), encoding="utf-8")
    for name, text in extra.items():
        (d / f"{name}.yaml").write_text(text, encoding="utf-8")
    return d


def only(problems, field_fragment):
    hits = [p for p in problems if field_fragment in p.field]
    assert hits, f"no problem on {field_fragment}: {[str(p) for p in problems]}"
    return hits[0]


def test_credit_check_character_known_codes():
    # published GB 32100-2015 example style: check character computed over the first 17
    assert catalog.credit_code_valid(CODE_B)
    assert catalog.credit_code_valid("91350100M000100Y43")
    assert not catalog.credit_code_valid("91350100M000100Y44")
    assert not catalog.credit_code_valid("91350100M000100Y4")


def test_example_catalog_is_valid():
    assert catalog.validate(REPO / "infra/tenants") == []
    cat = catalog.load(REPO / "infra/tenants")
    assert len(cat.tenants) >= 10
    assert 10 <= sum(s["count"] for t in cat.tenants for s in t["servers"]) <= 14


def test_valid_pair(tmp_path):
    assert catalog.validate(write(tmp_path / "c"), policies=False) == []


def test_schema_errors_have_line_and_field(tmp_path):
    a = GOOD_A.replace("mlps_level: 3", "mlps_level: 4").replace("owner: 张三\n", "owner: 张三\ncolour: red\n")
    probs = catalog.validate(write(tmp_path / "c", a=a), policies=False)
    p = only(probs, "mlps_level")
    assert (p.file.endswith("ta.yaml"), p.line) == (True, 5)
    p = [x for x in probs if "colour" in x.message][0]
    assert p.line == 1 and "remove or rename" in p.message
    # a missing required field points at the document
    b = GOOD_B.replace("owner: 李四\n", "")
    probs = catalog.validate(write(tmp_path / "d", b=b), policies=False)
    assert any("'owner' is a required property" in p.message and p.file.endswith("tb.yaml") for p in probs)


def test_nested_schema_error_line(tmp_path):
    a = GOOD_A.replace("ports: [443]", "ports: [70000]")
    p = only(catalog.validate(write(tmp_path / "c", a=a), policies=False), "exchange[0].ports[0]")
    assert p.line == 20


def test_duplicate_ids(tmp_path):
    dup = GOOD_B.format(code_b=CODE_B)
    probs = catalog.validate(write(tmp_path / "c", tb2=dup), policies=False)
    p = [x for x in probs if "duplicate tenant id" in x.message][0]
    assert p.field == "id" and p.line == 1 and p.file.endswith("tb2.yaml") and "tb.yaml:1" in p.message


def test_overlapping_cidrs_across_tenants(tmp_path):
    b = GOOD_B.replace("10.31.1.0/24", "10.30.1.128/25")
    p = only(catalog.validate(write(tmp_path / "c", b=b), policies=False), "zones[1].cidr")
    assert p.file.endswith("tb.yaml") and p.line == 15 and "overlaps 10.30.1.0/24 (ta/app" in p.message


def test_cidr_outside_supernet(tmp_path):
    a = GOOD_A.replace("10.30.0.0/24", "10.30.0.5/24")
    p = only(catalog.validate(write(tmp_path / "c", a=a), policies=False), "zones[0].cidr")
    assert p.line == 14 and "network address" in p.message


def test_unknown_flavor_image_zone(tmp_path):
    a = GOOD_A.replace("flavor: gc.small, image: debian-12-hardened, zone: app",
                       "flavor: gc.huge, image: ubuntu, zone: web")
    probs = catalog.validate(write(tmp_path / "c", a=a), policies=False)
    for fld, word in (("servers[0].flavor", "gc.huge"), ("servers[0].image", "ubuntu"), ("servers[0].zone", "web")):
        p = only(probs, fld)
        assert p.line == 17 and word in p.message and "use one of" in p.message


def test_invalid_credit_code(tmp_path):
    a = GOOD_A.replace('credit_code: "{code_a}"', 'credit_code: "11371500MB28485710"')
    p = only(catalog.validate(write(tmp_path / "c", a=a), policies=False), "credit_code")
    assert p.line == 4 and f"should be {CODE_A[-1]!r}" in p.message


def test_level3_needs_offsite_backup(tmp_path):
    a = GOOD_A.replace("backup_class: gold", "backup_class: bronze")
    p = only(catalog.validate(write(tmp_path / "c", a=a), policies=False), "backup_class")
    assert p.line == 18 and "off-site" in p.message and "gold" in p.message


def test_link_to_missing_tenant_and_zone(tmp_path):
    a = GOOD_A.replace("{{to: tb, from_zone: app, to_zone: app", "{{to: tz, from_zone: app, to_zone: app")
    p = only(catalog.validate(write(tmp_path / "c", a=a), policies=False), "exchange[0].to")
    assert p.line == 20 and "unknown tenant 'tz'" in p.message
    a = GOOD_A.replace("to_zone: app", "to_zone: db")
    p = only(catalog.validate(write(tmp_path / "d", a=a), policies=False), "exchange[0].to_zone")
    assert p.line == 20


def test_separated_duties(tmp_path):
    a = GOOD_A.replace("duty: audit_admin, name: 甲三", "duty: security_admin, name: 甲三")
    probs = catalog.validate(write(tmp_path / "c", a=a), policies=False)
    assert any(p.field == "contacts" and p.line == 8 and "audit_admin" in p.message for p in probs)


def test_duplicate_yaml_key_and_syntax_error(tmp_path):
    a = GOOD_A.replace("owner: 张三\n", "owner: 张三\nowner: 王五\n")
    p = only(catalog.validate(write(tmp_path / "c", a=a), policies=False), "owner")
    assert p.line == 7 and "twice" in p.message
    a = GOOD_A.replace("quota_class: small", "quota_class: [small")
    probs = catalog.validate(write(tmp_path / "d", a=a), policies=False)
    assert any("not valid YAML" in p.message and p.file.endswith("ta.yaml") for p in probs)


def test_all_problems_at_once(tmp_path):
    a = (GOOD_A.replace("mlps_level: 3", "mlps_level: 9")
         .replace("backup_class: gold", "backup_class: platinum"))
    b = GOOD_B.replace('credit_code: "{code_b}"', 'credit_code: "113715000052601867"').replace("gc.small", "x")
    probs = catalog.validate(write(tmp_path / "c", a=a, b=b), policies=False)
    files = {Path(p.file).name for p in probs}
    assert files == {"ta.yaml", "tb.yaml"} and len(probs) >= 2


def test_load_refuses_invalid(tmp_path):
    a = GOOD_A.replace("backup_class: gold", "backup_class: bronze")
    with pytest.raises(catalog.InvalidCatalog) as err:
        catalog.load(write(tmp_path / "c", a=a))
    assert "ta.yaml:18: backup_class" in str(err.value)


def test_defaults_and_quota(tmp_path):
    cat = catalog.load(write(tmp_path / "c"), check=False)
    ta = cat.by_id()["ta"]
    assert ta["quota_multiplier"] == 1.0 and ta["servers"][0]["count"] == 1
    assert ta["zones"][0]["regions"] == ["primary"]
    assert ta["quota"]["instances"] > 0 and "remote" in ta["backup"]["sites"]


def test_catalog_reference_in_docs_is_generated_from_schema():
    from infra import schemadoc

    assert schemadoc.main(["--check"]) == 0, "run `python -m infra.schemadoc --write`"
    assert "`zones[].cidr`" in schemadoc.render()
