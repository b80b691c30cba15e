"""Lab-host pieces that need no running host: status with nothing started, inventory shape, rootfs key,
mirror detection, fault CLI wiring."""

import argparse
import time

import yaml

from govcloud.lab import faults
from govcloud.lab.hosts import cli, core, inventory, lab, rootfs


def test_status_fast_and_exception_free_when_nothing_was_started(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path / "state"))
    t0 = time.monotonic()
    st = lab.status()
    assert time.monotonic() - t0 < 2
    assert st["state"] == "down" and st["hosts"] == [] and st["ssh_key"] is None


def test_status_reports_dead_host(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path))
    core.save({"hosts": {"x1": {"name": "x1", "address": "10.250.0.100", "role": "host", "state": "running",
                                "pid": 2 ** 22 + 7, "starttime": 1, "vid": 1}}, "bridges": {}})
    st = lab.status()
    assert st["state"] == "degraded"
    assert st["hosts"][0]["state"] == "dead" and st["hosts"][0]["memory_mib"] is None


def test_inventory_groups_and_honest_limit_facts(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path))
    recs = {
        "lab-1": {"name": "lab-1", "address": "10.250.0.11", "role": "host", "state": "running"},
        "site-samecity": {"name": "site-samecity", "address": "10.250.0.2", "role": "site", "state": "running"},
        "srv-1": {"name": "srv-1", "address": "10.31.1.5", "role": "server", "state": "running",
                  "inventory_name": "wjw-his-1", "vars": {"tenant": "wjw", "mlps_level": 2}},
        "lab-9": {"name": "lab-9", "address": "10.250.0.19", "role": "host", "state": "starting"},
    }
    inv = inventory.build({"hosts": recs})
    lab_group = inv["all"]["children"]["lab"]["children"]
    assert set(lab_group["lab_hosts"]["hosts"]) == {"lab-1"}  # not-yet-ready hosts are left out
    assert set(lab_group["lab_sites"]["hosts"]) == {"site-samecity"}
    srv = lab_group["lab_servers"]["hosts"]["wjw-his-1"]
    assert srv["ansible_host"] == "10.31.1.5" and srv["mlps_level"] == 2 and srv["tenant"] == "wjw"
    h = lab_group["lab_hosts"]["hosts"]["lab-1"]
    assert h["ansible_user"] == "root" and h["mlps_level"] == 3 and h["lab_shared_kernel"] is True
    assert str(core.known_hosts_path()) in h["ansible_ssh_common_args"]
    assert h["ansible_ssh_private_key_file"] == str(core.key_path())
    yaml.safe_load(yaml.safe_dump(inv))


def test_rootfs_key_depends_on_packages(monkeypatch):
    k = rootfs.key()
    monkeypatch.setattr(rootfs, "PACKAGES", [*rootfs.PACKAGES, "vim"])
    assert rootfs.key() != k
    for pkg in ("openssh-server", "auditd", "libpam-pwquality", "cracklib-runtime", "systemd-sysv",
                "openssh-sftp-server", "mariadb-client", "python3"):
        assert pkg in rootfs.PACKAGES


def test_mirror_from_deb822_sources(tmp_path, monkeypatch):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
    real = rootfs.Path

    def fake_path(p):
        p = str(p)
        if p == "/etc/apt/sources.list.d":
            return d
        if p == "/etc/apt/sources.list":
            return tmp_path / "none"
        return real(p)

    monkeypatch.setattr(rootfs, "Path", fake_path)
    assert rootfs.mirror() == "http://mirror.example/debian"


def test_address_allocation_skips_used_and_gateway():
    st = {"hosts": {"a": {"address": "10.250.0.100"}}}
    assert core.allocate_address(st) == "10.250.0.101"
    assert core.allocate_address(st, preferred="10.250.0.2") == "10.250.0.2"


def test_fault_and_hosts_cli_parse():
    p = argparse.ArgumentParser()
    faults.register(p)
    a = p.parse_args(["bandwidth", "lab-1", "512"])
    assert a.kbit == 512 and a.host == "lab-1" and callable(a.func)
    a = p.parse_args(["kill", "lab-2", "sshd"])
    assert a.process == "sshd"
    p = argparse.ArgumentParser()
    cli.register(p)
    a = p.parse_args(["add", "hard-1", "--disk-mib", "256"])
    assert a.disk_mib == 256 and a.func is cli.cmd_add


def test_inotify_room_check_refuses_a_host_that_would_not_boot(monkeypatch):
    import pytest

    from govcloud.errors import UserError
    from govcloud.lab.hosts import core

    monkeypatch.setattr(core, "inotify_in_use", lambda pids=None: 60 if pids is None else len(pids))
    monkeypatch.setattr(core, "cgroup_dirs", lambda rec: rec.get("pids", []))
    monkeypatch.setattr(core.sysutil, "cgroup_pids", lambda dirs: list(dirs))  # 1 instance per pid here
    st = {"hosts": {f"h{i}": {"state": "running"} for i in range(10)}}
    import time

    st["hosts"].update({f"b{i}": {"state": "starting", "created": time.time()} for i in range(9)})
    # started long ago but never marked running: already counted by the measurement
    st["hosts"].update({f"old{i}": {"state": "starting", "pids": [1] * 6} for i in range(5)})
    real_read = core.Path.read_text
    monkeypatch.setattr(core.Path, "read_text",
                        lambda self, *a, **k: "128\n" if "max_user_instances" in str(self) else real_read(self, *a, **k))
    core.check_inotify_room(st, "ok-host")  # 60 + 9 * 6 + 6 = 120 <= 126
    st["hosts"]["b9"] = {"state": "creating", "created": time.time()}
    st["hosts"]["b10"] = {"state": "creating", "created": time.time()}
    with pytest.raises(UserError, match=r"lab host no-room: no room .* 0 more host\(s\) fit"):
        core.check_inotify_room(st, "no-room")
