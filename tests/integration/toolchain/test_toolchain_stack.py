"""A real Python stack through our Pulumi CLI and language host on a local file backend (no lab):
preview, up, stack outputs, a config secret round-trip, a policy pack that blocks and passes, destroy."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from govcloud import paths, toolchain

DATA = Path(__file__).parent / "data"
STACK = "citest-toolchain-stack"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinystack")
    shutil.copy(DATA / "tinystack" / "__main__.py", root / "__main__.py")
    (root / "Pulumi.yaml").write_text(
        "name: toolchain-tinystack\n"
        "runtime:\n  name: python\n  options:\n"
        f"    virtualenv: {paths.REPO / '.venv'}\n"
    )
    env = toolchain.pulumi_env()
    env["PULUMI_BACKEND_URL"] = f"file://{root / 'state'}"  # throwaway backend, never the lab's
    (root / "state").mkdir()
    run = _runner(root, env)
    run("stack", "init", STACK)
    run("config", "set", "--secret", "token", "s3cr3t-value")
    yield root, run
    run("destroy", "--yes", "--skip-preview", check=False)
    run("stack", "rm", "--yes", "--force", STACK, check=False)


def _runner(cwd, env):
    def run(*args, check=True, timeout=300):
        proc = subprocess.run([*toolchain.pulumi_argv(), *args, "--non-interactive"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check:
            assert proc.returncode == 0, f"pulumi {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc
    return run


def test_preview_up_outputs_and_secret(project):
    root, run = project
    preview = run("preview", "--stack", STACK)
    assert "govcloud:test:Box" in preview.stdout
    run("up", "--yes", "--skip-preview", "--stack", STACK)
    outputs = json.loads(run("stack", "output", "--json", "--show-secrets", "--stack", STACK).stdout)
    assert outputs == {"label": "box-one", "token": "s3cr3t-value", "token_length": 12}
    hidden = json.loads(run("stack", "output", "--json", "--stack", STACK).stdout)
    assert hidden["token"] == "[secret]"
    assert run("config", "get", "token", "--stack", STACK).stdout.strip() == "s3cr3t-value"
    # The secret is encrypted at rest in the stack config and in the state.
    assert "s3cr3t-value" not in (root / f"Pulumi.{STACK}.yaml").read_text()
    state_files = [p.read_text() for p in (root / "state").rglob("*.json")]
    assert state_files and all("s3cr3t-value" not in text for text in state_files)


def test_policy_pack_blocks_a_violation_and_passes_compliant_stack(project):
    root, run = project
    pack = str(DATA / "policy_pack")
    passing = run("preview", "--stack", STACK, "--policy-pack", pack)
    assert "toolchain-test" in passing.stdout
    run("config", "set", "box", "forbidden", "--stack", STACK)
    try:
        blocked = run("preview", "--stack", STACK, "--policy-pack", pack, check=False)
    finally:
        run("config", "rm", "box", "--stack", STACK)
    assert blocked.returncode != 0, blocked.stdout
    assert "no-forbidden-box" in blocked.stdout and "mandatory" in blocked.stdout


def test_destroy_removes_everything(project):
    root, run = project
    run("destroy", "--yes", "--skip-preview", "--stack", STACK)
    exported = json.loads(run("stack", "export", "--stack", STACK).stdout)
    resources = exported.get("deployment", {}).get("resources") or []
    assert resources == []
