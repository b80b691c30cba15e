"""Every fault kind, observed on throwaway hosts: link cut/restore, bandwidth, loss, stop/start, disk full,
kill."""

import re
import subprocess
import time
import uuid

import pytest

from govcloud.lab import faults, hosts

pytestmark = pytest.mark.hosts
HOST = "lhfault-1"


@pytest.fixture(scope="module")
def victim(lab_hosts):
    hosts.add_host(HOST)
    yield HOST
    hosts.remove_host(HOST)


@pytest.fixture(autouse=True)
def _clear(request):
    yield
    if "victim" in request.fixturenames:
        try:
            faults.clear(HOST)
        except Exception:  # noqa: BLE001 - cleanup of a host the test may have stopped
            pass


def test_link_cut_times_out_and_restore_works(victim):
    faults.link_cut(victim)
    t0 = time.monotonic()
    r = hosts.run(victim, "true", check=False, timeout=30)
    # a cut link: the SYN goes nowhere (timeout), or ARP fails first (no route to host)
    assert r.returncode == 255, r.stderr
    assert "timed out" in r.stderr.lower() or "no route to host" in r.stderr.lower(), r.stderr
    assert time.monotonic() - t0 >= 2
    faults.link_restore(victim)
    assert hosts.run(victim, "hostname", timeout=30).stdout.strip() == victim


def _pull_seconds(name, nbytes):
    t0 = time.monotonic()
    r = subprocess.run([*hosts.ssh_argv(name), f"head -c {nbytes} /dev/zero"], capture_output=True, timeout=90)
    assert r.returncode == 0 and len(r.stdout) == nbytes
    return time.monotonic() - t0


def test_bandwidth_limit_is_measurable(victim):
    size = 512 * 1024
    base = _pull_seconds(victim, size)
    faults.bandwidth(victim, 1024)  # 128 KiB/s -> ~4 s
    limited = _pull_seconds(victim, size)
    print(f"512 KiB: {base:.2f} s unlimited, {limited:.2f} s at 1024 kbit")
    assert limited - base > 2.5  # 512 KiB at 128 KiB/s needs ~4 s more than unlimited
    faults.clear(victim)
    assert _pull_seconds(victim, size) < limited - 2


def test_packet_loss_is_measurable(victim):
    faults.loss(victim, 40)
    r = faults.nsexec(victim, ["ping", "-q", "-n", "-c", "100", "-i", "0.02", "-W", "1", "10.250.0.1"])
    m = re.search(r"(\d+(?:\.\d+)?)% packet loss", r.stdout)
    assert m, r.stdout + r.stderr
    lost = float(m.group(1))
    print(f"ping loss with 40% drop each way: {lost}%")
    assert 30 <= lost <= 90  # expected ~64% (1 - 0.6 * 0.6)
    faults.clear(victim)
    r = faults.nsexec(victim, ["ping", "-q", "-n", "-c", "20", "-i", "0.02", "-W", "1", "10.250.0.1"])
    assert " 0% packet loss" in r.stdout


def test_stop_and_start(victim):
    key_before = hosts.run(victim, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout
    faults.stop(victim)
    st = {h["name"]: h for h in hosts.status()["hosts"]}
    assert st[victim]["state"] == "stopped"
    assert hosts.run(victim, "true", check=False, timeout=30).returncode == 255
    faults.start(victim)
    assert hosts.run(victim, "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout == key_before
    assert {h["name"]: h for h in hosts.status()["hosts"]}[victim]["state"] == "running"


def test_fill_disk_gives_enospc_and_free_recovers(lab_hosts):
    name = "lhfault-disk"
    hosts.add_host(name, disk_mib=64)
    try:
        out = faults.fill_disk(name)
        assert out["free_bytes"] < 1024 * 1024
        r = hosts.run(name, "dd if=/dev/zero of=/root/more bs=1M count=2", check=False)
        assert r.returncode != 0 and "No space left on device" in r.stderr
        faults.free_disk(name)
        hosts.run(name, "dd if=/dev/zero of=/root/more bs=1M count=2 status=none")
    finally:
        hosts.remove_host(name)


def test_kill_named_process(victim):
    hosts.run(victim, f"systemd-run --unit lhfault-sleeper-{uuid.uuid4().hex[:6]} sleep 600")
    assert hosts.run(victim, "pgrep -x sleep", check=False).returncode == 0
    assert faults.kill(victim, "sleep") >= 1
    deadline = time.monotonic() + 10
    while hosts.run(victim, "pgrep -x sleep", check=False).returncode == 0:
        assert time.monotonic() < deadline, "sleep survived kill"
        time.sleep(0.2)
