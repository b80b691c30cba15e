"""doctor names the missing tool and the command that fixes it (no real tools needed)."""

from __future__ import annotations

from govcloud import doctor


def test_missing_tools_are_named_with_their_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_TOOL_BIN", str(tmp_path / "empty"))
    checks = {c.name: c for c in doctor.check_tools()}
    assert not checks["restic"].ok
    assert "restic" in checks["restic"].detail
    assert checks["restic"].fix.endswith("setup --only restic")
    assert not checks["pulumi"].ok and "pulumi-language-python" in checks["pulumi"].detail


def test_lab_is_unknown_when_its_module_is_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("govcloud.lab") and args and args[2] and "openstack" in args[2]:
            raise ImportError("no lab module")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    check = doctor.check_lab()
    assert not check.ok and not check.required
    assert check.detail.startswith("unknown")


def test_group_readable_passphrase_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    (tmp_path / "pulumi-state").mkdir()
    pf = tmp_path / "pulumi-passphrase"
    pf.write_text("x" * 40)
    pf.chmod(0o644)
    checks = {c.name: c for c in doctor.check_state()}
    assert checks["state backend"].ok
    assert not checks["passphrase"].ok and "chmod 600" in checks["passphrase"].fix


def test_doctor_creates_nothing_and_reports_missing_state(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("GOVCLOUD_TOOL_BIN", str(tmp_path / "empty"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setattr(doctor, "check_lab", lambda: doctor.Check("lab", False, "unknown", required=False))
    checks = {c.name: c for c in doctor.run_checks()}
    assert not checks["passphrase"].ok and checks["passphrase"].fix.endswith("govcloud setup")
    assert not checks["state backend"].ok
    assert not (tmp_path / "state").exists(), "doctor must only look, never create"
