"""Every MLPS rule function, compliant and violating."""

from policies import rules

ADMIN = [22, 3389, 3306, 5432, 6379]
PW = [r"(?im)^\s*chpasswd\s*:", r"(?im)^\s*(passwd|password)\s*:", r"(?im)^\s*ssh_pwauth\s*:\s*(true|yes|1)\b",
      r"(?im)\|\s*(sudo\s+)?passwd\b"]


def rule(**kw):
    base = {"direction": "ingress", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22,
            "remoteIpPrefix": "10.250.0.0/24"}
    base.update(kw)
    return base


def test_open_admin_ports():
    assert rules.open_admin_ports(rule(), ADMIN) == []
    assert rules.open_admin_ports(rule(remoteIpPrefix="0.0.0.0/0"), ADMIN) == [22]
    assert rules.open_admin_ports(rule(remoteIpPrefix="::/0", portRangeMin=3000, portRangeMax=4000), ADMIN) == [3306, 3389]
    assert rules.open_admin_ports(rule(remoteIpPrefix="0.0.0.0/0", portRangeMin=443, portRangeMax=443), ADMIN) == []
    # no prefix and no remote group = any source; no range = all ports
    assert rules.open_admin_ports(rule(remoteIpPrefix=None, portRangeMin=None, portRangeMax=None), ADMIN) == sorted(ADMIN)
    assert rules.open_admin_ports(rule(remoteIpPrefix=None, remoteGroupId="sg-1"), ADMIN) == []
    assert rules.open_admin_ports(rule(remoteIpPrefix="0.0.0.0/0", direction="egress"), ADMIN) == []
    assert rules.open_admin_ports(rule(remoteIpPrefix="0.0.0.0/0", protocol="icmp"), ADMIN) == []


def test_management_ports_from_business():
    biz = ["10.17.1.0/24"]
    assert rules.management_ports_from_business(rule(remoteIpPrefix="10.17.1.0/24"), "business", biz, [22]) == [22]
    assert rules.management_ports_from_business(rule(remoteIpPrefix="10.17.1.5/32"), "database", biz, [22]) == [22]
    assert rules.management_ports_from_business(rule(remoteIpPrefix="10.17.0.0/24"), "business", biz, [22]) == []
    assert rules.management_ports_from_business(rule(remoteIpPrefix="10.17.1.0/24"), "management", biz, [22]) == []
    assert rules.management_ports_from_business(
        rule(remoteIpPrefix="10.17.1.0/24", portRangeMin=443, portRangeMax=443), "business", biz, [22]) == []


def test_management_zone_overlaps():
    ok = [{"name": "mgmt", "kind": "management", "cidr": "10.1.0.0/24"},
          {"name": "app", "kind": "business", "cidr": "10.1.1.0/24"}]
    assert rules.management_zone_overlaps(ok) == []
    bad = [{"name": "mgmt", "kind": "management", "cidr": "10.1.0.0/23"},
           {"name": "app", "kind": "business", "cidr": "10.1.1.0/24"}]
    assert "overlaps" in rules.management_zone_overlaps(bad)[0]


def test_volume_encryption():
    assert rules.volume_encryption_problem(3, "encrypted", ["encrypted"]) is None
    assert rules.volume_encryption_problem(2, "standard", ["encrypted"]) is None
    assert "standard" in rules.volume_encryption_problem(3, "standard", ["encrypted"])
    assert "default" in rules.volume_encryption_problem(3, None, ["encrypted"])


def test_anti_affinity():
    allowed = ["anti-affinity", "soft-anti-affinity"]
    assert rules.anti_affinity_problems(3, {"a-his": [["anti-affinity"], ["anti-affinity"]]}, allowed) == []
    assert rules.anti_affinity_problems(3, {"a-db": [None]}, allowed) == []
    assert rules.anti_affinity_problems(2, {"a-his": [None, None]}, allowed) == []
    assert "2 of 2" in rules.anti_affinity_problems(3, {"a-his": [None, None]}, allowed)[0]
    assert "1 of 2" in rules.anti_affinity_problems(3, {"a-his": [["affinity"], ["anti-affinity"]]}, allowed)[0]


def test_dr_backup():
    assert rules.dr_backup_problem(3, ["primary", "dr"], "dr") is None
    assert rules.dr_backup_problem(2, [], "dr") is None
    assert "dr" in rules.dr_backup_problem(3, ["primary"], "dr")
    classes = {"gold": {"sites": ["samecity", "remote"]}, "bronze": {"sites": ["samecity"]}}
    assert rules.backup_class_problem(3, "gold", classes) is None
    assert rules.backup_class_problem(2, "bronze", classes) is None
    assert "remote" in rules.backup_class_problem(3, "bronze", classes)
    assert "no backup_class" in rules.backup_class_problem(3, None, classes)


def test_metadata():
    req = ["department", "mlps_level", "owner", "data_location"]
    good = {"department": "wjw", "mlps_level": "3", "owner": "张三", "data_location": "CN-SD-Liaocheng"}
    assert rules.metadata_problems(good, req) == []
    assert rules.metadata_problems({**good, "owner": ""}, req) == ["missing owner"]
    assert "outside China" in rules.metadata_problems({**good, "data_location": "US-East"}, req)[0]
    assert "not 2 or 3" in rules.metadata_problems({**good, "mlps_level": "5"}, req)[0]
    assert rules.tags_to_metadata(["department=wjw", "owner:张三", "junk"]) == {"department": "wjw", "owner": "张三"}


def test_quota():
    ceiling = rules.quota_ceiling({"cores": 20, "instances": 10}, 1.5)
    assert ceiling == {"cores": 30, "instances": 15}
    assert rules.quota_problems({"cores": 30, "instances": None, "other": 999}, ceiling) == []
    assert "cores 31 exceeds" in rules.quota_problems({"cores": 31}, ceiling)[0]
    assert "unlimited" in rules.quota_problems({"instances": -1}, ceiling)[0]


def test_image():
    assert rules.image_problem("debian-12-hardened", None, ["debian-12-hardened"]) is None
    assert rules.image_problem(None, "abc", ["debian-12-hardened"], ["abc"]) is None
    assert "ubuntu" in rules.image_problem("ubuntu", None, ["debian-12-hardened"])
    assert "none" in rules.image_problem(None, None, ["debian-12-hardened"])


def test_login():
    assert rules.login_problems("ops", "#cloud-config\nssh_pwauth: false\n", PW) == []
    assert "no key pair" in rules.login_problems(None, None, PW)[0]
    assert rules.login_problems(None, None, PW, require_key=False) == []
    for ud in ("#cloud-config\nchpasswd:\n  list: root:x\n", "#cloud-config\npassword: secret\n",
               "#cloud-config\nssh_pwauth: true\n", "#!/bin/sh\necho root:x | passwd --stdin root\n"):
        assert "password" in rules.login_problems("ops", ud, PW)[0], ud


def test_links():
    ex = [{"to": "rsj", "from_zone": "app", "to_zone": "app", "protocol": "tcp", "ports": [443]}]
    assert rules.link_declared(ex, "rsj", "app", "app", [443], "tcp")
    assert rules.link_declared(ex, "rsj", None, None)
    assert not rules.link_declared(ex, "rsj", "app", "app", [22], "tcp")
    assert not rules.link_declared(ex, "rsj", "db", "app", [443])
    assert not rules.link_declared(ex, "gaj", "app", "app", [443])
    tenants = {"wjw": {"id": "wjw", "zones": [{"name": "app"}], "exchange": ex},
               "rsj": {"id": "rsj", "zones": [{"name": "app"}]}}
    assert rules.exchange_target_problems(tenants["wjw"], tenants) == []
    bad = {"id": "wjw", "zones": [{"name": "app"}], "exchange": [{"to": "nope"}, {"to": "rsj", "from_zone": "x",
                                                                                  "to_zone": "y"}]}
    probs = rules.exchange_target_problems(bad, tenants)
    assert len(probs) == 3 and "not in the catalog" in probs[0]


def test_cidr_helpers():
    assert rules.cidr_within("10.17.1.5/32", "10.17.1.0/24")
    assert not rules.cidr_overlaps("10.0.0.0/24", "fd00::/64")
    assert not rules.cidr_overlaps("garbage", "10.0.0.0/8")
