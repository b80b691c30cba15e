"""A commented sample config and a field reference, both generated from schema.json (one schema drives
validation, the sample and the docs)."""

from __future__ import annotations

import json

from backup.config import schema

SAMPLE_SOURCES = [
    {"name": "files", "paths": ["/srv/app/data"], "exclude": ["*.tmp", "cache"]},
    {"name": "db", "dump": {"command": ["sqlite3", "/srv/app/app.db", ".dump"], "filename": "app.sql",
                            "restore": {"kind": "sqlite3", "check_sql": "SELECT count(*) FROM sqlite_master"}}},
]
SAMPLE_SITES = [
    {"name": "primary", "role": "primary", "type": "local", "path": "/var/backups/govcloud/repo"},
    {"name": "samecity", "role": "sync", "type": "sftp", "host": "10.250.0.2", "user": "drbackup",
     "path": "/srv/backup/repos/wjw-his", "identity_file": "/etc/govcloud-backup/samecity_id_ed25519",
     "known_hosts": "/etc/govcloud-backup/samecity_known_hosts"},
    {"name": "remote", "role": "async", "type": "rest", "url": "https://10.250.0.3:8000/wjw/his",
     "username": "wjw", "credential_file": "/etc/govcloud-backup/remote.htpasswd-password",
     "cacert": "/etc/govcloud-backup/remote-ca.crt", "append_only": True},
    {"name": "dr-swift", "role": "async", "type": "swift", "container": "govcloud-backup", "path": "/wjw-his",
     "credential_file": "/etc/govcloud-backup/dr-openrc"},
]


def _value(key: str, spec: dict):
    if key == "sources":
        return SAMPLE_SOURCES
    if key == "sites":
        return SAMPLE_SITES
    if "examples" in spec:
        return spec["examples"][0]
    if "default" in spec:
        return spec["default"]
    if spec.get("type") == "object" and "properties" in spec:
        out = {}
        for k, v in spec["properties"].items():
            if "default" in v or "examples" in v:
                out[k] = v.get("default", (v.get("examples") or [None])[0])
        return out or None
    return None


def sample() -> str:
    sch = schema()
    lines = ["# govcloud backup job (generated from backup/schema.json by `govcloud backup sample`)",
             "# Secrets never go here: password_file / credential_file point at 0600 files."]
    for key, spec in sch["properties"].items():
        val = _value(key, spec)
        if val is None:
            continue
        lines.append("")
        desc = spec.get("description")
        if desc:
            lines.append(f"# {desc}")
        lines.append(f"{key}: {json.dumps(val, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def reference() -> str:
    """Markdown table of every field (for docs/backup.md)."""
    sch = schema()
    rows = ["| field | type | default | description |", "|---|---|---|---|"]

    def walk(prefix: str, spec: dict) -> None:
        for k, v in spec.get("properties", {}).items():
            name = f"{prefix}{k}"
            t = v.get("type", "")
            d = json.dumps(v["default"]) if "default" in v else ""
            desc = v.get("description", "").replace("|", "\\|")
            if "enum" in v:
                desc += f" One of: {', '.join(map(str, v['enum']))}."
            rows.append(f"| `{name}` | {t} | {d} | {desc} |")
            if t == "object":
                walk(name + ".", v)
            if t == "array" and isinstance(v.get("items"), dict) and v["items"].get("type") == "object":
                walk(name + "[].", v["items"])
    walk("", sch)
    return "\n".join(rows) + "\n"
