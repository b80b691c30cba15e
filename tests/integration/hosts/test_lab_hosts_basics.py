"""The running lab hosts are real Debian 12 systemd hosts reachable over SSH, and Ansible reaches them all."""

import os
import subprocess

import pytest

from govcloud.lab import hosts
from govcloud.paths import REPO

pytestmark = pytest.mark.hosts


def plain(status):
    return [h["name"] for h in status["hosts"] if h["role"] == "host" and h["name"].startswith("lab-")]


def test_hosts_are_debian12_with_sshd_and_own_identity(lab_hosts):
    names = plain(lab_hosts)
    assert len(names) >= 2
    keys = set()
    for name in names:
        out = hosts.run(name, "hostname; cut -d. -f1 /etc/debian_version; systemctl is-active ssh.service; "
                              "cat /etc/ssh/ssh_host_ed25519_key.pub; test -e /run/nologin && echo nologin; "
                              "systemctl is-enabled auditd.service || true; readlink /proc/1/exe",
                        timeout=30).stdout.split("\n")
        assert out[0] == name
        assert out[1] == "12"
        assert out[2] == "active"
        keys.add(out[3].split()[1])
        assert "nologin" not in out
        assert "masked" in out  # the kernel refuses audit control in a container
        assert out[-2].endswith("systemd")  # systemd is init
    assert len(keys) == len(names), "every host must have its own SSH host key"


def test_status_reports_memory_and_addresses(lab_hosts):
    st = hosts.status()
    assert st["state"] in ("up", "degraded")
    for h in st["hosts"]:
        if h["state"] == "running":
            assert h["address"].startswith("10.") and h["memory_mib"] and h["memory_mib"] > 1
    figures = {h["name"]: h["memory_mib"] for h in st["hosts"] if h["state"] == "running"}
    print(f"PSS per host (MiB): {figures}")


def test_ansible_ping_all(lab_hosts):
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="False")
    inv = REPO / "inventories/lab/hosts.yml"
    r = subprocess.run([str(REPO / ".venv/bin/ansible"), "all", "-m", "ping", "-i", str(inv),
                        "-f", "8"], capture_output=True, text=True, env=env, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in plain(lab_hosts):
        assert f"{name} | SUCCESS" in r.stdout


def test_ansible_sees_systemd_and_the_limits_facts(lab_hosts):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False")
    name = plain(lab_hosts)[0]
    r = subprocess.run([str(REPO / ".venv/bin/ansible"), name, "-m", "setup", "-a",
                        "filter=ansible_service_mgr", "-i", str(REPO / "inventories/lab/hosts.yml")],
                       capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"ansible_service_mgr": "systemd"' in r.stdout
    r = subprocess.run([str(REPO / ".venv/bin/ansible-inventory"), "-i", str(REPO / "inventories/lab/hosts.yml"),
                        "--host", name], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert '"lab_shared_kernel": true' in r.stdout and '"mlps_level": 3' in r.stdout


def test_throwaway_hosts_are_fresh_and_concurrent(lab_hosts):
    from concurrent.futures import ThreadPoolExecutor

    names = ["lhbasic-1", "lhbasic-2"]
    try:
        with ThreadPoolExecutor(2) as ex:
            infos = list(ex.map(lambda n: hosts.add_host(n), names))
        assert len({i["address"] for i in infos}) == 2
        hosts.run(names[0], "echo dirty > /root/marker")
        hosts.add_host(names[0])  # same name again: a fresh overlay
        assert hosts.run(names[0], "test -e /root/marker", check=False).returncode == 1
        argv = hosts.ssh_argv(names[1]) + ["hostname"]
        assert subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip() == names[1]
    finally:
        for n in names:
            hosts.remove_host(n)
    assert not any(h["name"] in names for h in hosts.status()["hosts"])
