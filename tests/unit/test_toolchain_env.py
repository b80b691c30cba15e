"""pulumi_env(), passphrase file and PATH handling (no Pulumi needed)."""

from __future__ import annotations

import os
import stat

import pytest

from govcloud import paths, toolchain


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path / "state"))
    for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE",
                "GOVCLOUD_TOOL_BIN"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "state"


def test_env_points_everything_into_the_state_dir(state):
    env = toolchain.pulumi_env()
    assert env["PULUMI_HOME"] == str(state / "pulumi-home")
    assert env["PULUMI_BACKEND_URL"] == f"file://{state / 'pulumi-state'}"
    assert (state / "pulumi-state").is_dir()
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(state / "pulumi-passphrase")
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PATH"].split(os.pathsep)[0] == str(paths.venv_bin())


def test_passphrase_is_random_private_and_stable(state, tmp_path, monkeypatch):
    first = toolchain.passphrase_file()
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    secret = first.read_text()
    assert len(secret.strip()) >= 32
    toolchain.pulumi_env()
    assert first.read_text() == secret, "an existing passphrase must never be replaced"
    monkeypatch.setenv("GOVCLOUD_STATE", str(tmp_path / "other"))
    assert toolchain.passphrase_file().read_text() != secret


def test_operator_backend_and_passphrase_win(state, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://state?endpoint=minio.local:9000&s3ForcePathStyle=true")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "from-vault")
    env = toolchain.pulumi_env()
    assert env["PULUMI_BACKEND_URL"].startswith("s3://state?")
    assert "PULUMI_CONFIG_PASSPHRASE_FILE" not in env
    assert not (state / "pulumi-passphrase").exists()


def test_tool_bin_override_comes_first(state, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVCLOUD_TOOL_BIN", str(tmp_path / "bin"))
    env = toolchain.pulumi_env()
    assert env["PATH"].split(os.pathsep)[:2] == [str(tmp_path / "bin"), str(paths.venv_bin())]
    assert toolchain.pulumi_argv() == [str(tmp_path / "bin" / "pulumi")]
