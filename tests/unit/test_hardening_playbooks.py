"""Playbooks parse, the filter plugin works, the CLIs register their options."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "playbooks" / "filter_plugins"))
import mlps as filters  # noqa: E402


@pytest.mark.parametrize("playbook", ["harden.yml", "audit.yml"])
def test_playbook_syntax(playbook, tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  hosts:\n    h1: {mlps_level: 3}\n", encoding="utf-8")
    exe = Path(sys.prefix) / "bin" / "ansible-playbook"
    proc = subprocess.run([str(exe), "--syntax-check", "-i", str(inv), str(REPO / "playbooks" / playbook)],
                          capture_output=True, text=True, env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_filters():
    f = filters.FilterModule().filters()
    assert f["mlps_in_cidrs"]("10.250.0.1", ["10.250.0.0/24"]) is True
    assert f["mlps_in_cidrs"]("192.168.1.1", ["10.0.0.0/8"]) is False
    assert f["mlps_in_cidrs"]("", ["10.0.0.0/8"]) is False
    assert "L3-CES1-04" not in f["mlps_active"](3)  # evidence-only: nothing to apply
    assert "L3-CES1-26" not in f["mlps_active"](2) and "L3-CES1-16" not in f["mlps_active"](3, ["L3-CES1-16"])
    assert f["mlps_params"](3, {"mlps_pw_minlen": 14}, "h1")["pw_minlen"] == 14
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="h1: parameters refused"):
        f["mlps_params"](3, {"mlps_pw_minlen": 4}, "h1")
    ids = [c["id"] for c in f["mlps_probe_checks"](3)]
    assert len(ids) == len(set(ids)) and "pwquality-minlen" in ids


@pytest.mark.parametrize("module, argv, expect", [
    ("govcloud.hardening.cli", ["-i", "x.yml", "--limit", "web", "--level", "2", "--controls", "L3-CES1-01",
                                "--waivers", "w.yaml"], {"level": 2, "controls": "L3-CES1-01"}),
    ("govcloud.hardening.audit_cli", ["--json", "--out", "d", "--strict"], {"json": True, "strict": True, "out": "d"}),
])
def test_cli_register(module, argv, expect):
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(module).register(parser)
    args = parser.parse_args(argv)
    assert callable(args.func)
    for k, v in expect.items():
        assert getattr(args, k) == v


def test_cli_reports_operator_errors_without_traceback(tmp_path, capsys):
    from govcloud.cli import main

    assert main(["harden", "-i", str(tmp_path / "missing.yml")]) == 2
    assert "inventory not found" in capsys.readouterr().err
