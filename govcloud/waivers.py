"""One waiver model for every pillar: cloud policies (policies/) and host controls (playbooks/).

A waiver file is YAML:

    waivers:
      - rule: mlps-sg-no-open-admin-ports     # a policy id or a host control id
        scope: dept-wjw/*                       # tenant, resource or host name; shell-style globs
        justification: vendor appliance needs it until the 2027 refresh
        approver: 张伟 (security officer)
        expires: 2027-06-30

A waiver without justification or approver, or with a bad date, is rejected when the file is loaded
(every problem at once). An expired waiver is kept (so reports can say so) but never applies.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from govcloud.errors import UserError
from govcloud.paths import REPO

REQUIRED = ("rule", "scope", "justification", "approver", "expires")


@dataclass(frozen=True)
class Waiver:
    rule: str
    scope: str
    justification: str
    approver: str
    expires: dt.date
    source: str = ""

    def active(self, today: dt.date | None = None) -> bool:
        return (today or dt.date.today()) <= self.expires

    def covers(self, rule: str, names: Iterable[str]) -> bool:
        return self.rule == rule and any(fnmatch.fnmatchcase(n, self.scope) for n in names if n)


class WaiverError(UserError):
    pass


def default_file() -> Path | None:
    """$GOVCLOUD_WAIVERS, else waivers.yaml at the repo root if present."""
    env = os.environ.get("GOVCLOUD_WAIVERS")
    if env:
        return Path(env)
    path = REPO / "waivers.yaml"
    return path if path.exists() else None


def parse(data: object, source: str = "<waivers>") -> list[Waiver]:
    problems: list[str] = []
    entries = data.get("waivers") if isinstance(data, dict) else None
    if data is not None and not isinstance(entries, list):
        raise WaiverError(f"{source}: expected a mapping with a 'waivers' list")
    out: list[Waiver] = []
    for i, entry in enumerate(entries or []):
        where = f"{source}: waivers[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping with {', '.join(REQUIRED)}")
            continue
        unknown = sorted(set(entry) - set(REQUIRED))
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        missing = [k for k in REQUIRED if not str(entry.get(k) or "").strip()]
        for key in missing:
            problems.append(f"{where}.{key}: required; a waiver needs {', '.join(REQUIRED)}")
        expires = entry.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                problems.append(f"{where}.expires: {expires!r} is not a date (YYYY-MM-DD)")
                continue
        if "expires" not in missing and not isinstance(expires, dt.date):
            problems.append(f"{where}.expires: {expires!r} is not a date (YYYY-MM-DD)")
            continue
        if missing or unknown:
            continue
        out.append(Waiver(str(entry["rule"]), str(entry["scope"]), str(entry["justification"]).strip(),
                          str(entry["approver"]).strip(), expires, f"{source}#{i}"))
    if problems:
        raise WaiverError("invalid waivers:\n  " + "\n  ".join(problems))
    return out


def load(path: str | Path | None) -> list[Waiver]:
    if path is None:
        return []
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverError(f"{path}: cannot read waivers file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WaiverError(f"{path}: not valid YAML: {exc}") from exc
    return parse(data, str(path))


def find(waivers: Iterable[Waiver], rule: str, names: Iterable[str],
         today: dt.date | None = None) -> tuple[Waiver | None, Waiver | None]:
    """(active waiver, expired waiver) covering `rule` for any of `names`; either may be None."""
    names = list(names)
    active = expired = None
    for w in waivers:
        if w.covers(rule, names):
            if w.active(today):
                active = active or w
            else:
                expired = expired or w
    return active, expired
