"""Config rendering of the lab's OpenStack: every template renders, parses, and keeps the lab on 127.0.0.1."""

from __future__ import annotations

import base64
import configparser
import hashlib
import json
import stat

import pytest
import yaml

from govcloud.lab.openstack import core, layout

SECRETS = {"admin": "a1", "operator": "o1", "service": "s1", "db": "d1", "rabbit": "r1", "swift_hash": "h1",
           "fixed_key": "00" * 32}


@pytest.fixture
def lab_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path / "state"))
    venv = tmp_path / "venv"
    for svc, name in (("nova", "api-paste.ini"), ("neutron", "api-paste.ini"), ("cinder", "api-paste.ini"),
                      ("glance", "glance-api-paste.ini")):
        (venv / "etc" / svc).mkdir(parents=True, exist_ok=True)
        (venv / "etc" / svc / name).write_text(f"[composite:{svc}]\nuse = egg:Paste#urlmap\n")
    (venv / "etc" / "cinder" / "resource_filters.json").write_text('{"volume": ["name"]}\n')
    return layout.dirs(), venv


def _ini(path):
    cp = configparser.RawConfigParser(strict=True)
    cp.read_string(path.read_text())
    return cp


def test_every_template_renders_without_leftover_placeholders(lab_dirs):
    d, venv = lab_dirs
    core.render_all(d, venv, SECRETS)
    files = [p for p in d.etc.rglob("*") if p.is_file()]
    assert len(files) > 30
    for p in files:
        text = p.read_text()
        assert "${" not in text, p
        if p.suffix in (".conf", ".ini") and p.parent.name != "rabbitmq" and p.name != "my.cnf":
            _ini(p)  # parses as INI


def test_regions_get_their_own_ports_databases_and_vhosts(lab_dirs):
    d, venv = lab_dirs
    core.render_all(d, venv, SECRETS)
    for region in layout.REGIONS:
        nova = _ini(d.rconf(region) / "nova" / "nova.conf")
        assert nova.get("DEFAULT", "transport_url").endswith(f":5672/{region}")
        assert nova.get("placement", "region_name") == region
        db = _ini(d.rconf(region) / "nova" / "nova-db.conf")
        assert db.get("database", "connection").split("/")[-1].startswith(f"{region}_nova?")
        proxy = _ini(d.rconf(region) / "swift" / "proxy-server.conf")
        assert proxy.getint("DEFAULT", "bind_port") == layout.region_ports(region)["swift_proxy"]
        assert proxy.get("filter:versioned_writes", "allow_object_versioning") == "true"
        assert "keystoneauth" in proxy.get("pipeline:main", "pipeline").split()
        assert "container-quotas" in proxy.get("pipeline:main", "pipeline").split()
    defs = json.loads((d.etc / "rabbitmq" / "definitions.json").read_text())
    assert {v["name"] for v in defs["vhosts"]} == set(layout.REGIONS)


def test_nova_compute_never_loads_database_urls(lab_dirs):
    d, venv = lab_dirs
    for svc in layout.services(d, venv):
        if "nova-compute" in svc.name:
            assert not any("nova-db.conf" in a for a in svc.argv), svc.argv
            host_conf = [a for a in svc.argv if a.endswith("-compute-1.conf") or a.endswith("-compute-2.conf")]
            assert host_conf, svc.argv


def test_everything_binds_to_loopback_and_ports_are_unique(lab_dirs):
    d, venv = lab_dirs
    core.render_all(d, venv, SECRETS)
    ports = list(layout.all_ports().values())
    assert len(ports) == len(set(ports))
    for p in d.etc.rglob("*.conf"):
        for line in p.read_text().splitlines():
            if line.strip().startswith(("bind_ip", "bind-address", "bind_host")):
                assert line.split("=", 1)[1].strip() == "127.0.0.1", (p, line)
    for svc in layout.services(d, venv):
        if "--http-socket" in svc.argv:
            assert svc.argv[svc.argv.index("--http-socket") + 1].startswith("127.0.0.1:")
        if svc.name.endswith("memcached"):
            assert svc.argv[svc.argv.index("-l") + 1] == "127.0.0.1"
    assert "127.0.0.1" in (d.etc / "rabbitmq" / "rabbitmq.conf").read_text()


def test_service_table_has_both_regions_full(lab_dirs):
    d, venv = lab_dirs
    names = [s.name for s in layout.services(d, venv)]
    assert len(names) == len(set(names))
    for region in layout.REGIONS:
        for part in ("placement-api", "nova-api", "nova-conductor", "nova-scheduler", "nova-compute-1",
                     "nova-compute-2", "neutron-api", "neutron-rpc", "glance-api", "cinder-api",
                     "cinder-scheduler", "cinder-volume", "swift-proxy", "swift-object"):
            assert f"{region}-{part}" in names


def test_missing_template_variable_is_an_error():
    with pytest.raises(KeyError):
        core.render("nova.conf", {"region": "primary"})


def test_secrets_and_clouds_yaml_are_private(lab_dirs):
    d, _ = lab_dirs
    sec = core.load_secrets(d)
    assert stat.S_IMODE(d.secrets.stat().st_mode) == 0o600
    assert core.load_secrets(d) == sec  # stable once written
    path = core.write_clouds_yaml(d, sec)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    clouds = yaml.safe_load(path.read_text())["clouds"]
    assert set(clouds) == set(layout.CLOUDS)
    for c in clouds.values():
        assert c["regions"] == ["primary", "dr"]
        assert c["auth"]["auth_url"].startswith("http://127.0.0.1:")
    assert clouds["govcloud-operator"]["auth"]["user_domain_name"] == "city"
    assert clouds["govcloud-admin"]["auth"]["password"] == sec["admin"]


def test_rabbit_password_hash_matches_rabbitmq_sha256_scheme():
    defs = core.rabbit_definitions(SECRETS)
    raw = base64.b64decode(defs["users"][0]["password_hash"])
    salt, digest = raw[:4], raw[4:]
    assert hashlib.sha256(salt + b"r1").digest() == digest


def test_venv_key_follows_the_constraints():
    assert layout.venv_key("3.11.7") == layout.venv_key("3.11.7")
    assert layout.venv_key("3.11.7") != layout.venv_key("3.11.8")
    pins = layout.CONSTRAINTS.read_text().splitlines()
    for pin in ("keystone==30.0.0", "openstack-placement==16.0.0", "nova==34.0.0", "neutron==29.0.0",
                "glance==33.0.0", "cinder==29.0.0", "swift==2.38.3", "uwsgi==2.0.31"):
        assert pin in pins, pin
    assert all("==" in p for p in pins if p and not p.startswith("#"))


def test_drivers_are_installed_with_an_ml2_entry_point(lab_dirs):
    d, _ = lab_dirs
    core.install_drivers(d)
    assert (d.pylib / "govcloud_lab_drivers" / "ml2_bind.py").exists()
    ep = (d.pylib / "govcloud_lab_drivers-1.0.dist-info" / "entry_points.txt").read_text()
    assert "[neutron.ml2.mechanism_drivers]" in ep and "govcloud_bind =" in ep


def test_node_identity_matches_the_fake_driver_rule():
    import re
    import uuid

    src = (layout.HERE / "drivers" / "nova_fake.py").read_text()
    ns = re.search(r'NAMESPACE = uuid.UUID\("([0-9a-f-]+)"\)', src).group(1)
    assert core.node_uuid("primary-compute-1") == str(uuid.uuid5(uuid.UUID(ns), "primary-compute-1"))
    assert core.node_uuid("primary-compute-1") != core.node_uuid("primary-compute-2")


def test_config_change_changes_the_fingerprint(lab_dirs):
    d, venv = lab_dirs
    core.render_all(d, venv, SECRETS)
    svc = next(s for s in layout.services(d, venv) if s.name == "primary-cinder-api")
    before = core.fingerprint(d, venv, svc)
    assert core.fingerprint(d, venv, svc) == before
    nova = next(s for s in layout.services(d, venv) if s.name == "primary-nova-api")
    nova_before = core.fingerprint(d, venv, nova)
    conf = d.rconf("primary") / "cinder" / "cinder.conf"
    conf.write_text(conf.read_text() + "\n# changed\n")
    assert core.fingerprint(d, venv, svc) != before
    assert core.fingerprint(d, venv, nova) == nova_before
