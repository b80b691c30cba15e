"""The built tools answer with their pinned versions; setup is idempotent; doctor names what is missing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

from govcloud import paths, toolchain

GOVCLOUD = str(paths.venv_bin() / "govcloud")


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 300),
                          env=kw.pop("env", toolchain.pulumi_env()), check=False, **kw)


def test_second_setup_rebuilds_nothing():
    first = _run([GOVCLOUD, "setup"], timeout=3600)  # builds whatever a fresh machine lacks
    assert first.returncode == 0, first.stdout + first.stderr
    start = time.monotonic()
    second = _run([GOVCLOUD, "setup", "--json"])
    seconds = time.monotonic() - start
    assert second.returncode == 0, second.stdout + second.stderr
    summary = json.loads(second.stdout)
    print(f"second govcloud setup: {seconds:.1f} s (rebuilt: {summary['rebuilt']})")
    assert summary["rebuilt"] == []
    assert all(not t["built"] for t in summary["tools"])
    assert seconds < 60


def test_pulumi_cli_is_the_pinned_version():
    out = _run([*toolchain.pulumi_argv(), "version"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "v" + toolchain.pins()["tools"]["pulumi"]["version"]


def test_openstack_plugin_is_installed():
    out = _run([*toolchain.pulumi_argv(), "plugin", "ls", "--json"])
    assert out.returncode == 0, out.stderr
    plugins = json.loads(out.stdout)
    assert {"name": "openstack", "kind": "resource", "version": "5.5.3"} in [
        {k: p.get(k) for k in ("name", "kind", "version")} for p in plugins]


def test_restic_is_recent_enough():
    out = _run([str(paths.venv_bin() / "restic"), "version"])
    assert out.returncode == 0, out.stderr
    version = tuple(int(x) for x in re.search(r"restic (\d+)\.(\d+)\.(\d+)", out.stdout).groups())
    assert version >= (0, 18, 0)


def test_rest_server_answers_version():
    out = _run([str(paths.venv_bin() / "rest-server"), "--version"])
    assert out.returncode == 0, out.stderr
    assert toolchain.pins()["tools"]["rest-server"]["version"] in out.stdout


def test_doctor_passes_and_names_a_missing_tool(tmp_path):
    ok = _run([GOVCLOUD, "doctor", "--json"])
    report = json.loads(ok.stdout)
    failed = [c for c in report["checks"] if c["required"] and not c["ok"]]
    assert ok.returncode == 0 and failed == [], failed
    # A copy of the tool directory without restic: doctor must fail and say how to fix it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for entry in paths.venv_bin().iterdir():
        if entry.name != "restic":
            os.symlink(entry.resolve() if entry.is_symlink() else entry, bin_dir / entry.name)
    env = {**toolchain.pulumi_env(), "GOVCLOUD_TOOL_BIN": str(bin_dir)}
    broken = _run([GOVCLOUD, "doctor"], env=env)
    assert broken.returncode == 1, broken.stdout
    assert re.search(r"\[FAIL\] restic: missing", broken.stdout), broken.stdout
    assert "govcloud setup --only restic" in broken.stdout
