"""Where things live. Everything generated stays out of git: lab state under .govcloud/, builds in the cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Per-checkout runtime state: lab services, hosts, Pulumi state, evidence (gitignored)."""
    return Path(os.environ.get("GOVCLOUD_STATE", REPO / ".govcloud"))


def cache_dir() -> Path:
    """Builds and downloads shared by every checkout on this machine, keyed by version."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "govcloud"
    return Path(os.environ.get("GOVCLOUD_CACHE", default))


def venv_bin() -> Path:
    """The bin directory of the environment govcloud runs in (.venv/bin after bootstrap)."""
    return Path(sys.prefix) / "bin"
