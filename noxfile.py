"""Every task of the project. Run with the project's environment: `.venv/bin/nox --no-venv -s SESSION`
(bootstrap.sh does), so the sessions use the pinned .venv instead of building their own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "unit"]

ROOT = Path(__file__).parent
BIN = Path(sys.prefix) / "bin"
# Integration suites run in this order: the toolchain first, then the lab and its hosts, then each pillar.
INTEGRATION_ORDER = ["toolchain", "lab", "hosts", "tenants", "policies", "hardening", "backup"]


def _bin(name: str) -> str:
    return str(BIN / name)


@nox.session
def setup(session: nox.Session) -> None:
    """Build/link the toolchain (idempotent; cached in ~/.cache/govcloud)."""
    session.run(_bin("govcloud"), "setup", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    session.run(_bin("ruff"), "check", ".", external=True)
    session.run(_bin("yamllint"), "-s", "-c", ".yamllint", "infra", "policies", "playbooks", "inventories",
                "backup", external=True)
    if (ROOT / "playbooks").is_dir() and any((ROOT / "playbooks").glob("*.yml")):
        session.run(_bin("ansible-lint"), "--offline", "-q", "playbooks", external=True,
                    env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})


@nox.session
def unit(session: nox.Session) -> None:
    session.run(_bin("pytest"), "-q", "tests/unit", *session.posargs, external=True)


@nox.session
def integration(session: nox.Session) -> None:
    """Against the real lab: starts it (idempotent) through fixtures and stops it afterwards.
    Real services are flaky the way real services are: a failed test is retried once, and
    the retry is reported (pytest-rerunfailures) rather than hidden."""
    suites = [f"tests/integration/{s}" for s in INTEGRATION_ORDER if (ROOT / "tests/integration" / s).is_dir()]
    args = session.posargs or suites
    try:
        session.run(_bin("pytest"), "-q", "-p", "no:cacheprovider", "--reruns", "1", "--reruns-delay", "5",
                    "-rR", "--durations=15", *args, external=True)
    finally:
        if not os.environ.get("GOVCLOUD_KEEP_LAB"):
            session.run(_bin("govcloud"), "lab", "down", external=True, success_codes=[0, 1, 2])


@nox.session
def bench(session: nox.Session) -> None:
    """Print measured figures; see benchmarks/README.md. Pass a script name to run one."""
    scripts = session.posargs or sorted(str(p) for p in (ROOT / "benchmarks").glob("bench_*.py"))
    for script in scripts:
        session.run(_bin("python"), script, external=True)


@nox.session
def lab(session: nox.Session) -> None:
    """`nox -s lab -- up|down|status|reset`"""
    session.run(_bin("govcloud"), "lab", *(session.posargs or ["status"]), external=True)


@nox.session
def lock(session: nox.Session) -> None:
    """Re-pin requirements.lock from pyproject.toml."""
    session.run(_bin("uv"), "pip", "compile", "pyproject.toml", "--extra", "dev", "-o", "requirements.lock",
                "--python-version", "3.11", "-q", external=True)
