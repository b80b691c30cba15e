"""Filters that let the playbooks use the one MLPS catalog implementation (govcloud.hardening.catalog)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from govcloud.hardening import catalog  # noqa: E402


def mlps_params(level, overrides, host="host"):
    """Effective parameters for `level` from the host's mlps_* variables; fails on values below the floor."""
    try:
        return catalog.effective_params(level, dict(overrides or {}), where=str(host))
    except Exception as exc:  # ParamError carries the operator message
        raise AnsibleFilterError(str(exc)) from exc


def mlps_active(level, waived=None, selected=None):
    """Catalog keys (L3 ids) of the controls that apply at `level`, minus waived ones."""
    waived = set(waived or [])
    return [c["id"] for c in catalog.controls(int(level)) if c["id"] not in waived and c["tier"] != "evidence-only"]


def mlps_in_cidrs(address, cidrs):
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(str(c), strict=False) for c in cidrs or [])


def mlps_probe_checks(level):
    return catalog.probe_checks(int(level))


class FilterModule:
    def filters(self):
        return {
            "mlps_params": mlps_params,
            "mlps_active": mlps_active,
            "mlps_in_cidrs": mlps_in_cidrs,
            "mlps_probe_checks": mlps_probe_checks,
        }
