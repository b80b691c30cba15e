"""Independent MLPS checks with testinfra. Expected parameter values are the catalog's level defaults
(data in playbooks/controls/mlps.yml), overridable with GOVCLOUD_TI_PARAMS='{"pw_minlen": 14}';
the level comes from GOVCLOUD_TI_LEVEL (default 3). The checks themselves share no code with the audit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

CATALOG = Path(__file__).resolve().parents[2] / "playbooks" / "controls" / "mlps.yml"


@pytest.fixture(scope="session")
def p() -> dict:
    level = int(os.environ.get("GOVCLOUD_TI_LEVEL", "3"))
    spec = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["parameters"]
    params = {name: item["default"][level] for name, item in spec.items()}
    params.update(json.loads(os.environ.get("GOVCLOUD_TI_PARAMS", "{}")))
    params["level"] = level
    return params


def kv(text: str, sep: str = "=") -> dict[str, str]:
    """Last value wins for `key = value` lines, comments ignored."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


def words(text: str) -> dict[str, str]:
    """`KEY value` lines (login.defs, sshd -T): last value wins."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts = line.split(None, 1)
            out[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return out


@pytest.fixture
def sshd(host) -> dict[str, str]:
    return words(host.check_output("sshd -T"))
