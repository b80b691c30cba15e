"""The toolchain govcloud runs on: Pulumi CLI, our Python language host, our OpenStack provider plugin,
restic and rest-server. Built from the Go module proxy by `govcloud setup` (see build.py and pins.json),
cached in ~/.cache/govcloud keyed by version + recipe hash, and linked into .venv/bin.

Other modules use only the small API below to run Pulumi the same way everywhere:

    subprocess.run([*pulumi_argv(), "preview", "--stack", "lab"], env=pulumi_env(), cwd=REPO)
"""

from __future__ import annotations

import json
import os
import secrets
from functools import lru_cache
from pathlib import Path

from govcloud import paths

PINS_FILE = Path(__file__).with_name("pins.json")


@lru_cache(maxsize=1)
def pins() -> dict:
    """The pinned tools (pins.json): name -> recipe fields."""
    return json.loads(PINS_FILE.read_text())


def tool_bin() -> Path:
    """Where the tools are looked up: .venv/bin, or $GOVCLOUD_TOOL_BIN (used by tests and by operators who
    keep the toolchain elsewhere)."""
    override = os.environ.get("GOVCLOUD_TOOL_BIN")
    return Path(override) if override else paths.venv_bin()


def tool_path(name: str) -> Path:
    return tool_bin() / name


def pulumi_home() -> Path:
    """PULUMI_HOME: plugins and workspace settings of this checkout (never ~/.pulumi)."""
    return paths.state_dir() / "pulumi-home"


def state_backend_dir() -> Path:
    return paths.state_dir() / "pulumi-state"


def passphrase_file(create: bool = True) -> Path:
    """The passphrase protecting stack secrets; created on first use, random, mode 0600."""
    path = paths.state_dir() / "pulumi-passphrase"
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return path


def backend_url(create: bool = True) -> str:
    """PULUMI_BACKEND_URL: an operator's setting wins (e.g. s3://bucket?endpoint=...); default local file state."""
    url = os.environ.get("PULUMI_BACKEND_URL")
    if url:
        return url
    state = state_backend_dir()
    if create:
        state.mkdir(parents=True, exist_ok=True)
    return f"file://{state}"


def pulumi_env(base: dict | None = None, create: bool = True) -> dict:
    """A complete environment for running the Pulumi CLI: os.environ (or `base`) plus our settings.
    With create=False (doctor) nothing is created on disk: no state dir, no passphrase file."""
    env = dict(os.environ if base is None else base)
    home = pulumi_home()
    if create:
        home.mkdir(parents=True, exist_ok=True)
    env["PULUMI_HOME"] = str(home)
    env["PULUMI_BACKEND_URL"] = backend_url(create)
    if "PULUMI_CONFIG_PASSPHRASE" not in env:
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = env.get("PULUMI_CONFIG_PASSPHRASE_FILE") or \
            str(passphrase_file(create))
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env["PULUMI_DIY_BACKEND_NO_LEGACY_WARNING"] = "true"
    env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
    bins = [str(tool_bin())]
    if str(paths.venv_bin()) not in bins:
        bins.append(str(paths.venv_bin()))
    env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
    return env


def pulumi_argv() -> list[str]:
    """The command prefix that runs our pinned Pulumi CLI."""
    return [str(tool_path("pulumi"))]
