"""The MLPS control catalog (playbooks/controls/mlps.yml) as Python: parameters and their per-level
floors, controls per level, and evaluation of the audit probe's observations.

Used on the controller only: by the CLI, by the evidence writers and by the playbooks' filter plugin
(playbooks/filter_plugins/mlps.py), so floors and parameters are checked by one piece of code.
"""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Any

import yaml

from govcloud.errors import UserError

CATALOG = Path(__file__).resolve().parents[2] / "playbooks" / "controls" / "mlps.yml"
LEVELS = (2, 3)
TIERS = ("enforced", "config-verified", "evidence-only")
PASS, PARTIAL, FAIL, NA, WAIVED = "符合", "部分符合", "不符合", "不适用", "waived"
VERDICTS = (PASS, PARTIAL, FAIL, NA, WAIVED)


class ParamError(UserError):
    pass


@functools.lru_cache(maxsize=4)
def load(path: str | None = None) -> dict:
    data = yaml.safe_load(Path(path or CATALOG).read_text(encoding="utf-8"))
    ids = [c["id"] for c in data["controls"]]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate control ids in the catalog")
    return data


def controls(level: int | None = None) -> list[dict]:
    """Controls in catalog order, only those that apply to `level` when given."""
    return [c for c in load()["controls"] if level is None or int(level) in c["levels"]]


def by_id() -> dict[str, dict]:
    out = {}
    for c in load()["controls"]:
        out[c["id"]] = c
        if c.get("l2_id"):
            out[c["l2_id"]] = c
    return out


def item_id(control: dict, level: int) -> str:
    """The GB/T 28448-2019 assessment item id of `control` at `level` (L2-CES1-xx or L3-CES1-xx)."""
    return control["l2_id"] if int(level) == 2 else control["id"]


def canonical(ident: str) -> str:
    """L2 or L3 item id -> the catalog key (the L3 id). Raises UserError for unknown ids."""
    table = by_id()
    key = ident.strip().upper()
    if key not in table:
        raise UserError(f"unknown control id {ident!r}; ids look like L3-CES1-01 or L2-CES1-01 "
                        f"(see playbooks/controls/mlps.yml)")
    return table[key]["id"]


def check_tier(control: dict, check: dict) -> str:
    return check.get("tier") or control["tier"]


def _level(level: Any, where: str) -> int:
    try:
        lv = int(level)
    except (TypeError, ValueError):
        lv = None
    if lv not in LEVELS:
        raise ParamError(f"{where}: mlps_level must be 2 or 3 (got {level!r}); set it in the inventory")
    return lv


def effective_params(level: Any, overrides: dict | None = None, where: str = "host") -> dict:
    """Defaults for `level` with inventory overrides (`mlps_<name>` or bare `<name>` keys) applied.
    Refuses, with every problem at once, any value weaker than the level's MLPS floor."""
    lv = _level(level, where)
    spec = load()["parameters"]
    params = {name: p["default"][lv] for name, p in spec.items()}
    problems: list[str] = []
    for key, value in (overrides or {}).items():
        name = key[5:] if key.startswith("mlps_") else key
        if name not in spec:
            continue
        p = spec[name]
        kind = p["kind"]
        shown = f"mlps_{name}={value!r}"
        if kind in ("min", "max"):
            try:
                value = int(value)
            except (TypeError, ValueError):
                problems.append(f"{shown}: must be an integer")
                continue
            floor = p["floor"][lv]
            if (kind == "min" and value < floor) or (kind == "max" and (value > floor or value < 0)):
                rel = ">=" if kind == "min" else "<="
                problems.append(f"{shown} is weaker than the MLPS level {lv} floor ({p['desc']} must be {rel} {floor})")
                continue
        elif kind == "choice":
            if isinstance(value, bool):
                value = "yes" if value else "no"
            value = str(value)
            if value not in p["allowed"]:
                problems.append(f"{shown}: level {lv} allows only {', '.join(p['allowed'])} ({p['desc']})")
                continue
        elif kind == "subset":
            value = list(value) if isinstance(value, (list, tuple)) else [v.strip() for v in str(value).split(",")]
            weak = [v for v in value if v not in p["allowed"]]
            if weak or not value:
                problems.append(f"{shown}: {', '.join(weak) or 'empty list'} not allowed at level {lv}; "
                                f"choose from {', '.join(p['allowed'])}")
                continue
        elif kind == "cidrs":
            value = [value] if isinstance(value, str) else list(value or [])
            bad = []
            for v in value:
                try:
                    net = ipaddress.ip_network(str(v), strict=False)
                except ValueError:
                    bad.append(f"{v} is not a network")
                    continue
                if net.prefixlen == 0:
                    bad.append(f"{v} allows every address (GB/T 22239 8.1.4.4 c) requires a restricted range)")
            if bad or not value:
                problems.append(f"{shown}: {'; '.join(bad) or 'at least one management network is required'}")
                continue
            value = [str(v) for v in value]
        elif kind == "ports":
            try:
                value = sorted({int(v) for v in (value or [])})
            except (TypeError, ValueError):
                problems.append(f"{shown}: must be a list of TCP port numbers")
                continue
            if any(not 0 < v < 65536 for v in value):
                problems.append(f"{shown}: ports must be 1..65535")
                continue
        elif kind == "list":
            value = [str(v) for v in ([value] if isinstance(value, str) else list(value or []))]
        params[name] = value
    if problems:
        raise ParamError(f"{where}: parameters refused:\n  " + "\n  ".join(problems))
    params["level"] = lv
    return params


def _expected_value(value: Any, params: dict) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in params:
        return params[value[1:-1]]
    if isinstance(value, str):
        return value.format(**params)
    return value


def expected_text(check: dict, params: dict) -> str:
    exp = check["expect"]
    op = exp["op"]
    value = _expected_value(exp.get("value"), params)
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    words = {"eq": "=", "ne": "!=", "ge": ">=", "le": "<=", "in": "one of", "match": "matches",
             "notmatch": "does not match", "subset": "only"}
    if op == "empty":
        return "none"
    if op == "nonempty":
        return "present"
    text = f"{words[op]} {value}".replace("\n", "; ")
    if "min" in exp:
        text += f" and >= {exp['min']}"
    return text


def evaluate(check: dict, observed: str | None, params: dict, rc: int | None = 0) -> bool:
    """True when `observed` (the probe's stdout, stripped) satisfies the check's expectation."""
    import re

    exp = check["expect"]
    op = exp["op"]
    obs = (observed or "").strip()
    value = _expected_value(exp.get("value"), params)
    if op == "empty":
        return obs == ""
    if op == "nonempty":
        return obs != ""
    if op in ("ge", "le"):
        try:
            num = int(obs.split()[0])
        except (ValueError, IndexError):
            return False
        if "min" in exp and num < int(exp["min"]):
            return False
        return num >= int(value) if op == "ge" else num <= int(value)
    if op == "eq":
        return obs == str(value).strip()
    if op == "ne":
        return obs != str(value).strip()
    if op == "in":
        return obs in [str(v) for v in value]
    if op == "match":
        return re.search(str(value), obs) is not None
    if op == "notmatch":
        return re.search(str(value), obs) is None
    if op == "subset":
        have = [v for v in obs.split(",") if v]
        return bool(have) and set(have) <= set(value)
    raise ValueError(f"unknown expect op {op!r}")


def control_verdict(results: list[bool]) -> str:
    if not results:
        return NA
    if all(results):
        return PASS
    return PARTIAL if any(results) else FAIL


def control_tier(control: dict) -> str:
    return control["tier"]


def probe_checks(level: int) -> list[dict]:
    """The (id, cmd) pairs the audit probe runs for `level`, deduplicated by id."""
    seen: dict[str, dict] = {}
    for c in controls(level):
        for chk in c.get("checks", []):
            seen.setdefault(chk["id"], {"id": chk["id"], "cmd": chk["cmd"]})
    return list(seen.values())
