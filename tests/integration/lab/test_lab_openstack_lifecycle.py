"""Lifecycle of the lab's OpenStack: `up` is idempotent, repairs a SIGKILLed service, `down` leaves no
listener, and `up` after `down` works. Every test leaves the lab UP (other suites run after this one)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from govcloud.lab import openstack
from govcloud.lab.openstack import layout, procs

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _event(what: str) -> None:
    """Announce a disruptive action where the shared lab's users look (GOVCLOUD_LAB_EVENTS, if set)."""
    path = os.environ.get("GOVCLOUD_LAB_EVENTS")
    if path:
        try:
            with open(path, "a") as f:
                f.write(f"{time.strftime('%H:%M', time.gmtime())} openstack-lab tests: {what}\n")
        except OSError:
            pass


def _pids() -> dict[str, int]:
    return {name: rec["pid"] for name, rec in procs.recorded(layout.dirs().run).items()}


def _ss_ports() -> set[int]:
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and ":" in parts[3]:
            ports.add(int(parts[3].rsplit(":", 1)[1]))
    return ports


def _wait(what: str, pred, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@pytest.fixture
def lab_back_up():
    """Whatever happens in the test, the lab is up again afterwards."""
    yield
    if openstack.status()["state"] != "up":
        openstack.up()


def test_up_on_a_running_lab_changes_nothing(openstack_lab, lab_back_up):
    before = _pids()
    assert before and openstack.status()["state"] == "up"
    t = time.monotonic()
    st = openstack.up()
    assert time.monotonic() - t < 60
    assert st["state"] == "up"
    assert _pids() == before


@pytest.mark.parametrize("victim", ["primary-glance-api", "dr-nova-compute-2"])
def test_up_repairs_a_killed_service(openstack_lab, lab_back_up, victim):
    _event(f"kill -9 {victim}, then up")
    old = _pids()[victim]
    os.kill(old, signal.SIGKILL)
    _wait(f"{victim} seen down", lambda: openstack.status()["services"][victim] == "down")
    st = openstack.up()
    assert st["state"] == "up", st["services"]
    assert _pids()[victim] != old
    _event(f"{victim} repaired")


def test_down_leaves_no_listener_and_up_works_again(openstack_lab, lab_back_up):
    _event("down + up of the OpenStack lab (~2 min)")
    lab_ports = set(layout.all_ports().values())
    d = layout.dirs()
    openstack.down()
    assert not _ss_ports() & lab_ports, sorted(_ss_ports() & lab_ports)
    assert not procs.marked(str(d.root)), "a lab process survived down()"
    st = openstack.status()
    assert st["state"] == "down" and st["memory_mib"] == 0
    openstack.down()  # idempotent
    t = time.monotonic()
    st = openstack.up()
    warm = time.monotonic() - t
    print(f"warm up after down: {warm:.0f} s, {st['memory_mib']} MiB PSS {st['memory_by_region']}")
    assert st["state"] == "up"
    assert warm < 180, f"warm up took {warm:.0f} s"
    assert Path(st["clouds_yaml"]).exists()
    _event(f"OpenStack lab back up (warm up {warm:.0f} s)")
