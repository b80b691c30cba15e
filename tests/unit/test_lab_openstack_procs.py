"""PID bookkeeping of the lab: sessions, descendants, start times, listeners, PSS, status when never started."""

from __future__ import annotations

import os
import socket
import sys
import time

from govcloud.lab.openstack import procs


def _wait(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_start_records_pid_and_stop_kills_the_whole_session(tmp_path):
    run = tmp_path / "run"
    # a parent that forks a child, then the parent exits: the orphan keeps the session
    pid = procs.start(run, "svc", ["/bin/sh", "-c", "sleep 300 & echo child $!; sleep 300"], dict(os.environ),
                      tmp_path / "svc.log")
    rec = procs.read(run, "svc")
    assert rec["pid"] == pid and rec["started"] == procs.start_time(pid)
    assert procs.running(run, "svc")
    assert _wait(lambda: len(procs.session_members({pid})) >= 2)
    members = set(procs.session_members({pid}))
    procs.stop(run, "svc", timeout=5)
    assert not procs.read(run, "svc")
    assert _wait(lambda: not any(procs.alive(p) for p in members))


def test_orphans_of_a_killed_leader_are_still_found_and_stopped(tmp_path):
    run = tmp_path / "run"
    pid = procs.start(run, "svc", ["/bin/sh", "-c", "sleep 300 & sleep 300"], dict(os.environ), tmp_path / "l")
    assert _wait(lambda: len(procs.session_members({pid})) >= 2)
    os.kill(pid, 9)
    assert _wait(lambda: not procs.alive(pid))
    assert not procs.running(run, "svc")
    orphans = set(procs.session_members({pid}))
    assert orphans, "the child should survive its leader"
    procs.stop(run, "svc", timeout=5)
    assert _wait(lambda: not any(procs.alive(p) for p in orphans))


def test_pid_reuse_is_detected_by_start_time():
    me = os.getpid()
    assert procs.alive(me)
    assert procs.alive(me, procs.start_time(me))
    assert not procs.alive(me, procs.start_time(me) + 1)
    assert not procs.alive(2**22 + 12345)


def test_listening_ports_and_socket_owners():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        listening = procs.listening_ports()
        assert port in listening
        assert os.getpid() in procs.socket_owners(listening[port])
    finally:
        s.close()
    assert port not in procs.listening_ports()


def test_pss_and_marker(tmp_path):
    assert procs.pss_kib(os.getpid()) > 0
    assert procs.pss_kib(2**22 + 12345) == 0
    env = {**os.environ, "GOVCLOUD_OSLAB": str(tmp_path)}
    pid = procs.start(tmp_path / "run", "m", [sys.executable, "-c", "import time; time.sleep(300)"], env,
                      tmp_path / "m.log")
    try:
        assert _wait(lambda: pid in procs.marked(str(tmp_path)))
        assert procs.lab_marker_of({pid}) == str(tmp_path)
        assert procs.lab_marker_of({os.getpid()}) in (None, os.environ.get("GOVCLOUD_OSLAB"))
    finally:
        procs.stop(tmp_path / "run", "m", timeout=5)


def test_status_is_fast_and_safe_when_never_started(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path / "nothing"))
    from govcloud.lab import openstack

    t = time.monotonic()
    st = openstack.status()
    assert time.monotonic() - t < 2
    assert st["state"] == "down"
    assert "error" not in st
    assert set(st["services"].values()) == {"down"}
    assert st["regions"] == ["primary", "dr"] and st["clouds"] == ["govcloud-admin", "govcloud-operator"]
    assert st["memory_mib"] == 0
    for key in ("clouds_yaml", "logs", "memory_by_region"):
        assert key in st


def test_down_and_reset_are_idempotent_when_never_started(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path / "nothing"))
    from govcloud.lab import openstack

    openstack.down()
    openstack.down()
    openstack.reset()
    assert openstack.status()["state"] == "down"
