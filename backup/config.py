"""Load and validate backup job configs.

Runtime is stdlib only (the engine runs on the protected host): YAML through PyYAML when it is installed,
JSON always. Validation uses the JSON Schema in schema.json with a small validator for the subset we use,
so every problem is reported at once as `file: field: message`.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from backup.errors import BackupError

SCHEMA_PATH = Path(__file__).with_name("schema.json")


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@dataclass
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field or '(top)'}: {self.message}"


_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool,
    "integer": int, "number": (int, float),
}


def _type_ok(value, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def validate_data(data, sch: dict, path: str = "") -> list[tuple[str, str]]:
    """Validate `data` against the schema subset we use; return [(field path, message)]."""
    out: list[tuple[str, str]] = []
    t = sch.get("type")
    if t and not _type_ok(data, t):
        return [(path, f"must be {t}, got {type(data).__name__}")]
    if "const" in sch and data != sch["const"]:
        out.append((path, f"must be {sch['const']!r}"))
    if "enum" in sch and data not in sch["enum"]:
        out.append((path, f"{data!r} is not one of {sch['enum']}"))
    if isinstance(data, str):
        if "pattern" in sch and not re.search(sch["pattern"], data):
            out.append((path, f"{data!r} does not match {sch['pattern']}"))
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        if "minimum" in sch and data < sch["minimum"]:
            out.append((path, f"{data} is below the minimum {sch['minimum']}"))
        if "maximum" in sch and data > sch["maximum"]:
            out.append((path, f"{data} is above the maximum {sch['maximum']}"))
    if isinstance(data, list):
        if len(data) < sch.get("minItems", 0):
            out.append((path, f"needs at least {sch['minItems']} item(s)"))
        if "items" in sch:
            for i, item in enumerate(data):
                out += validate_data(item, sch["items"], f"{path}[{i}]")
    if isinstance(data, dict):
        props = sch.get("properties", {})
        for req in sch.get("required", []):
            if req not in data:
                out.append((f"{path}.{req}".lstrip("."), "is required"))
        for key, value in data.items():
            sub = f"{path}.{key}".lstrip(".")
            if key in props:
                out += validate_data(value, props[key], sub)
            elif sch.get("additionalProperties") is False:
                hint = " (secrets belong in a 0600 file: use password_file / credential_file)" if "pass" in key else ""
                out.append((sub, f"unknown field{hint}"))
    for cond in sch.get("allOf", []):
        if "if" in cond:
            if not validate_data(data, cond["if"], path):
                out += validate_data(data, cond.get("then", {}), path)
        else:
            out += validate_data(data, cond, path)
    return out


def load_file(path: str | os.PathLike) -> dict:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise BackupError(f"{p}: cannot read config: {exc.strerror}") from None
    if p.suffix == ".json":
        loader = json.loads
    else:
        try:
            import yaml  # optional at run time
        except ImportError:
            try:
                return json.loads(text)
            except ValueError:
                raise BackupError(f"{p}: PyYAML is not installed here; ship the config as JSON "
                                  "(the backup_agent role does)") from None

        def loader(s):
            return yaml.safe_load(s)
    try:
        data = loader(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is reported with the file name
        raise BackupError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {exc}") from None
    if data is None:
        data = {}
    return data


def semantic_problems(data: dict) -> list[tuple[str, str]]:
    """Rules a JSON Schema cannot say well."""
    out: list[tuple[str, str]] = []
    sites = data.get("sites") if isinstance(data.get("sites"), list) else []
    roles = [s.get("role") for s in sites if isinstance(s, dict)]
    if sites and roles.count("primary") != 1:
        out.append(("sites", f"exactly one site must have role primary (found {roles.count('primary')})"))
    if roles.count("sync") > 1:
        out.append(("sites", "at most one sync (same-city) site: dual commit waits for exactly one"))
    names = [s.get("name") for s in sites if isinstance(s, dict)]
    for n in {n for n in names if names.count(n) > 1}:
        out.append(("sites", f"site name {n!r} used twice"))
    for i, s in enumerate(sites):
        if not isinstance(s, dict):
            continue
        if s.get("role") == "primary" and s.get("append_only"):
            out.append((f"sites[{i}].append_only", "the primary repository must allow forget/prune"))
        if s.get("type") == "rest" and "@" in str(s.get("url", "")):
            out.append((f"sites[{i}].url", "must not contain credentials; use username + credential_file"))
    if not (data.get("password_file") or data.get("password_env")):
        if not all(isinstance(s, dict) and s.get("password_file") for s in sites):
            out.append(("password_file", "a repository password file (or password_env) is required"))
    srcs = data.get("sources") if isinstance(data.get("sources"), list) else []
    for i, s in enumerate(srcs):
        if isinstance(s, dict) and not s.get("paths") and not s.get("dump"):
            out.append((f"sources[{i}]", "needs paths or dump"))
        if isinstance(s, dict) and s.get("paths") and s.get("dump"):
            out.append((f"sources[{i}]", "has both paths and dump; use two sources"))
    snames = [s.get("name") for s in srcs if isinstance(s, dict)]
    for n in {n for n in snames if snames.count(n) > 1}:
        out.append(("sources", f"source name {n!r} used twice"))
    return out


def validate(path: str | os.PathLike) -> list[Problem]:
    f = str(path)
    try:
        data = load_file(path)
    except BackupError as exc:
        return [Problem(f, "", str(exc).split(": ", 1)[-1])]
    if not isinstance(data, dict):
        return [Problem(f, "", "the config must be a mapping")]
    probs = validate_data(data, schema()) + semantic_problems(data)
    return [Problem(f, fld, msg) for fld, msg in probs]


# ---------------------------------------------------------------- secrets

def read_secret(path: str, what: str) -> str:
    """Read a secret from a file that only its owner can read (0600 or 0400). Never logged."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise BackupError(f"{what}: secret file {p} does not exist; create it with mode 0600") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BackupError(f"{what}: secret file {p} has mode {stat.S_IMODE(st.st_mode):04o}; "
                          f"it must not be readable by group/others: chmod 600 {p}")
    value = p.read_text().strip("\r\n")
    if not value:
        raise BackupError(f"{what}: secret file {p} is empty")
    return value


# ---------------------------------------------------------------- the loaded job

DEFAULT_CLASSES = {"rpo_s": 60, "rto_s": 3600}


def _backup_class(name: str | None) -> dict:
    if not name:
        return {}
    candidates = [os.environ.get("GOVCLOUD_BACKUP_CLASSES", "")]
    here = Path(__file__).resolve().parent.parent
    candidates += [str(here / "infra" / "backup_classes.yaml"), "/etc/govcloud-backup/backup_classes.json"]
    for c in candidates:
        if c and Path(c).is_file():
            try:
                data = load_file(c)
            except BackupError:
                continue
            classes = data.get("classes", data) if isinstance(data, dict) else {}
            if isinstance(classes, dict) and isinstance(classes.get(name), dict):
                return classes[name]
    return {}


@dataclass
class Job:
    path: str
    data: dict
    name: str = ""
    sites: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.data["name"]
        self.sites = self.data["sites"]

    # --- convenience accessors
    def section(self, key: str) -> dict:
        """A section with the schema defaults filled in."""
        props = schema()["properties"][key].get("properties", {})
        out = {k: v["default"] for k, v in props.items() if "default" in v}
        out.update(self.data.get(key) or {})
        return out

    @property
    def targets(self) -> dict:
        cls = _backup_class(self.data.get("backup_class"))
        out = dict(DEFAULT_CLASSES)
        for k in ("rpo_s", "rto_s", "rpo_async_s"):
            if k in cls:
                out[k] = cls[k]
        out.update(self.data.get("targets") or {})
        out.setdefault("rpo_async_s", max(3600, out["rpo_s"]))
        return out

    @property
    def state_dir(self) -> Path:
        d = Path(self.data.get("state_dir") or "/var/lib/govcloud-backup") / self.name
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        return d

    def site(self, name: str) -> dict:
        for s in self.sites:
            if s["name"] == name:
                return s
        raise BackupError(f"{self.path}: no site named {name!r} (sites: {', '.join(s['name'] for s in self.sites)})")

    def by_role(self, role: str) -> list[dict]:
        return [s for s in self.sites if s["role"] == role]

    @property
    def primary(self) -> dict:
        return self.by_role("primary")[0]

    def repo_password(self, site: dict) -> str:
        if site.get("password_file"):
            return read_secret(site["password_file"], f"{self.path}: sites.{site['name']}.password_file")
        if self.data.get("password_file"):
            return read_secret(self.data["password_file"], f"{self.path}: password_file")
        env = self.data.get("password_env")
        if env and os.environ.get(env):
            return os.environ[env]
        raise BackupError(f"{self.path}: password_env: environment variable {env} is not set")


def load(path: str | os.PathLike) -> Job:
    probs = validate(path)
    if probs:
        raise BackupError("invalid config:\n  " + "\n  ".join(str(p) for p in probs))
    return Job(str(path), load_file(path))
