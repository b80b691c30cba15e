"""The department catalog: load infra/tenants/*.yaml and validate it as a whole.

`validate(dir)` reports every problem at once, each with file, line, field and what to do.
`load(dir)` returns the tenants as plain dicts with defaults applied (and raises InvalidCatalog
listing every problem when the catalog is not valid), so nothing is provisioned from a bad catalog.
"""

from __future__ import annotations

import copy
import importlib
import ipaddress
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from govcloud.errors import UserError

INFRA = Path(__file__).resolve().parent
DEFAULT_CATALOG = INFRA / "tenants"
SCHEMA_FILE = INFRA / "schema" / "tenant.schema.json"
DUTIES = ("system_admin", "security_admin", "audit_admin")

# GB 32100-2015: 31 characters (no I, O, S, V, Z) and the weights of positions 1..17.
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str
    source: str = "catalog"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message,
                "source": self.source}


class InvalidCatalog(UserError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"the tenant catalog has {len(problems)} problem(s); fix them and retry:\n{lines}")


@dataclass
class Catalog:
    directory: Path
    tenants: list[dict]
    cloud: dict
    quota_classes: dict
    backup_classes: dict
    lines: dict = field(default_factory=dict, repr=False)  # file -> {path tuple: line}

    def by_id(self) -> dict[str, dict]:
        return {t["id"]: t for t in self.tenants}

    def config(self) -> dict:
        return {"cloud": self.cloud, "quota_classes": self.quota_classes, "backup_classes": self.backup_classes}


# ---------------------------------------------------------------------------------------------- YAML

class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int):
        super().__init__(key)
        self.key, self.line = key, line


def _construct(node: yaml.Node, path: tuple, lines: dict, constructor: yaml.constructor.SafeConstructor) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if key in out:
                raise _DuplicateKey(str(key), key_node.start_mark.line + 1)
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, path + (key,), lines, constructor)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), lines, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def load_yaml_with_lines(path: Path) -> tuple[Any, dict]:
    """Parse one YAML document; return (data, {path tuple: 1-based line})."""
    text = path.read_text(encoding="utf-8")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict = {}
    if node is None:
        return None, {(): 1}
    constructor = yaml.constructor.SafeConstructor()
    return _construct(node, (), lines, constructor), lines


def _line(lines: dict, path: tuple) -> int:
    path = tuple(path)
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _field(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


# --------------------------------------------------------------------------------------- credit code

def credit_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARS[(31 - total % 31) % 31]


def credit_code_valid(code: str) -> bool:
    if not isinstance(code, str) or len(code) != 18 or any(c not in CREDIT_CHARS for c in code):
        return False
    return credit_check_char(code[:17]) == code[17]


# ------------------------------------------------------------------------------------------ classes

def _class_file(catalog_dir: Path, name: str) -> Path:
    """Class/cloud files: next to the catalog directory first (a test catalog can bring its own), else infra/."""
    for candidate in (catalog_dir / name, catalog_dir.parent / name, INFRA / name):
        if candidate.is_file():
            return candidate
    return INFRA / name


def _load_plain(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping at the top; see infra/{path.name}")
    return data


def effective_quota(quota_classes: dict, tenant: dict) -> dict:
    base = quota_classes.get(tenant.get("quota_class"), {})
    mult = float(tenant.get("quota_multiplier", 1.0))
    return {k: int(math.ceil(v * mult)) for k, v in base.items()}


def _apply_defaults(tenant: dict, quota_classes: dict, backup_classes: dict) -> dict:
    t = copy.deepcopy(tenant)
    t.setdefault("quota_multiplier", 1.0)
    t.setdefault("description", "")
    t.setdefault("servers", [])
    t.setdefault("object_storage", [])
    t.setdefault("exchange", [])
    for zone in t.get("zones", []):
        zone.setdefault("regions", ["primary"])
    for server in t["servers"]:
        server.setdefault("count", 1)
        server.setdefault("volumes", [])
        for vol in server["volumes"]:
            vol.setdefault("type", "encrypted" if t.get("mlps_level") == 3 else "standard")
    t["quota"] = effective_quota(quota_classes, t)
    t["backup"] = dict(backup_classes.get(t.get("backup_class"), {}))
    return t


# ---------------------------------------------------------------------------------------- validation

def _read(catalog_dir: Path) -> tuple[list[tuple[str, dict, dict]], list[Problem], dict, dict, dict]:
    problems: list[Problem] = []
    catalog_dir = Path(catalog_dir)
    if not catalog_dir.is_dir():
        raise UserError(f"{catalog_dir}: catalog directory not found; pass --catalog DIR (default infra/tenants)")
    cloud = _load_plain(_class_file(catalog_dir, "cloud.yaml"))
    quota_classes = _load_plain(_class_file(catalog_dir, "quota_classes.yaml"))
    backup_classes = _load_plain(_class_file(catalog_dir, "backup_classes.yaml"))
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    docs = []
    files = sorted(list(catalog_dir.glob("*.yaml")) + list(catalog_dir.glob("*.yml")))
    for path in files:
        name = _display(path)
        try:
            data, lines = load_yaml_with_lines(path)
        except _DuplicateKey as exc:
            problems.append(Problem(name, exc.line, exc.key, f"key {exc.key!r} appears twice; keep one"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            problems.append(Problem(name, line, "(document)", f"not valid YAML: {getattr(exc, 'problem', exc)}; fix the syntax"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(name, 1, "(document)", "expected one mapping (a tenant); see infra/schema/tenant.schema.json"))
            continue
        errors = sorted(validator.iter_errors(data), key=lambda e: (_line(lines, e.absolute_path), list(map(str, e.absolute_path))))
        for err in errors:
            problems.append(Problem(name, _line(lines, err.absolute_path), _field(err.absolute_path),
                                    _schema_hint(err)))
        if not errors:
            docs.append((name, data, lines))
    if not files:
        problems.append(Problem(_display(catalog_dir), 1, "(catalog)", "no tenant files (*.yaml) found; add infra/tenants/<id>.yaml"))
    return docs, problems, cloud, quota_classes, backup_classes


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _schema_hint(err: jsonschema.ValidationError) -> str:
    desc = err.schema.get("description") if isinstance(err.schema, dict) else None
    msg = err.message
    if err.validator == "required":
        return f"{msg}; add it (see infra/schema/tenant.schema.json)"
    if err.validator == "additionalProperties":
        return f"{msg}; remove or rename it (allowed fields are in infra/schema/tenant.schema.json)"
    return f"{msg}" + (f"; expected: {desc}" if desc else "")


def _cross_checks(docs, cloud, quota_classes, backup_classes) -> list[Problem]:
    problems: list[Problem] = []
    P = problems.append
    flavors = set(cloud.get("flavors", {}))
    images = set(cloud.get("images", []))
    vtypes = cloud.get("volume_types", {})
    regions = cloud.get("regions", {})
    supernet = ipaddress.ip_network(cloud.get("tenant_supernet", "10.16.0.0/12"))
    reserved = [ipaddress.ip_network(c) for c in (cloud.get("ops_cidr"), cloud.get("extranet_cidr")) if c]
    seen_ids: dict[str, tuple[str, int]] = {}
    nets: list[tuple[ipaddress.IPv4Network, str, int, str, str]] = []
    tenant_zones: dict[str, set] = {}
    for name, t, lines in docs:
        tid = t["id"]
        L = lambda *p, _lines=lines: _line(_lines, p)  # noqa: E731
        if tid in seen_ids:
            other, oline = seen_ids[tid]
            P(Problem(name, L("id"), "id", f"duplicate tenant id {tid!r} (also in {other}:{oline}); give each department its own id"))
        else:
            seen_ids[tid] = (name, L("id"))
        stem = Path(name).stem
        if stem != tid:
            P(Problem(name, L("id"), "id", f"file name {stem!r} does not match id {tid!r}; rename the file to {tid}.yaml"))
        if not credit_code_valid(t["credit_code"]):
            code = t["credit_code"]
            want = credit_check_char(code[:17]) if all(c in CREDIT_CHARS for c in code[:17]) else "?"
            P(Problem(name, L("credit_code"), "credit_code",
                      f"{code!r} fails the GB 32100-2015 check (last character should be {want!r}); copy the code from the department's registration certificate"))
        duties = [c["duty"] for c in t["contacts"]]
        for duty in DUTIES:
            if duties.count(duty) != 1:
                P(Problem(name, L("contacts"), "contacts", f"needs exactly one {duty} (has {duties.count(duty)}); the three admin duties must be separate"))
        people = [c["name"] for c in t["contacts"]]
        if len(set(people)) != len(people):
            P(Problem(name, L("contacts"), "contacts", "one person holds two admin duties; system, security and audit admins must be different people"))
        if t["quota_class"] not in quota_classes:
            P(Problem(name, L("quota_class"), "quota_class", f"unknown quota class {t['quota_class']!r}; use one of {sorted(quota_classes)} (infra/quota_classes.yaml)"))
        bclass = backup_classes.get(t["backup_class"])
        if bclass is None:
            P(Problem(name, L("backup_class"), "backup_class", f"unknown backup class {t['backup_class']!r}; use one of {sorted(backup_classes)} (infra/backup_classes.yaml)"))
        elif t["mlps_level"] == 3 and "remote" not in bclass.get("sites", []):
            offsite = sorted(k for k, v in backup_classes.items() if "remote" in v.get("sites", []))
            P(Problem(name, L("backup_class"), "backup_class", f"level-3 tenant needs an off-site (remote) backup class, {t['backup_class']!r} has sites {bclass.get('sites')}; use one of {offsite}"))
        zone_names: dict[str, int] = {}
        for i, z in enumerate(t["zones"]):
            zf = f"zones[{i}]"
            if z["name"] in zone_names:
                P(Problem(name, L("zones", i, "name"), f"{zf}.name", f"zone {z['name']!r} declared twice; zone names must be unique in a tenant"))
            zone_names[z["name"]] = i
            for r in z.get("regions", ["primary"]):
                if r not in regions:
                    P(Problem(name, L("zones", i, "regions"), f"{zf}.regions", f"unknown region {r!r}; use one of {sorted(regions)} (infra/cloud.yaml)"))
            try:
                net = ipaddress.ip_network(z["cidr"], strict=True)
            except ValueError as exc:
                P(Problem(name, L("zones", i, "cidr"), f"{zf}.cidr", f"{exc}; write the network address, e.g. 10.17.1.0/24"))
                continue
            if not net.subnet_of(supernet):
                P(Problem(name, L("zones", i, "cidr"), f"{zf}.cidr", f"{net} is outside the tenant supernet {supernet}; pick a free range inside it"))
            for r in reserved:
                if net.overlaps(r):
                    P(Problem(name, L("zones", i, "cidr"), f"{zf}.cidr", f"{net} overlaps the reserved network {r} (infra/cloud.yaml); pick another range"))
            nets.append((net, name, L("zones", i, "cidr"), f"{zf}.cidr", f"{tid}/{z['name']}"))
        tenant_zones[tid] = set(zone_names)
        kinds = [z["kind"] for z in t["zones"]]
        if "management" not in kinds:
            P(Problem(name, L("zones"), "zones", "no management zone; add one (kind: management) so ops can reach the servers only through it"))
        server_names: set = set()
        for i, s in enumerate(t.get("servers", [])):
            sf = f"servers[{i}]"
            if s["name"] in server_names:
                P(Problem(name, L("servers", i, "name"), f"{sf}.name", f"server {s['name']!r} declared twice; names must be unique in a tenant"))
            server_names.add(s["name"])
            if s["flavor"] not in flavors:
                P(Problem(name, L("servers", i, "flavor"), f"{sf}.flavor", f"unknown flavor {s['flavor']!r}; use one of {sorted(flavors)} (infra/cloud.yaml)"))
            if s["image"] not in images:
                P(Problem(name, L("servers", i, "image"), f"{sf}.image", f"unknown image {s['image']!r}; use one of {sorted(images)} (infra/cloud.yaml)"))
            if s["zone"] not in zone_names:
                P(Problem(name, L("servers", i, "zone"), f"{sf}.zone", f"unknown zone {s['zone']!r}; use one of this tenant's zones {sorted(zone_names)}"))
            hosts = regions.get("primary", {}).get("compute_hosts")
            if t["mlps_level"] == 3 and hosts and s.get("count", 1) > hosts:
                P(Problem(name, L("servers", i, "count"), f"{sf}.count", f"level 3 places copies on different hosts (anti-affinity) but the cloud has {hosts} compute hosts; lower count to {hosts}"))
            for j, v in enumerate(s.get("volumes", [])):
                vf = f"{sf}.volumes[{j}].type"
                if "type" in v:
                    if v["type"] not in vtypes:
                        P(Problem(name, L("servers", i, "volumes", j, "type"), vf, f"unknown volume type {v['type']!r}; use one of {sorted(vtypes)} (infra/cloud.yaml)"))
                    elif t["mlps_level"] == 3 and not vtypes[v["type"]].get("encrypted"):
                        P(Problem(name, L("servers", i, "volumes", j, "type"), vf, f"level-3 volumes must be encrypted; drop `type` or use one of {sorted(k for k, x in vtypes.items() if x.get('encrypted'))}"))
        for i, o in enumerate(t.get("object_storage", [])):
            if o["name"] == "backup":
                P(Problem(name, L("object_storage", i, "name"), f"object_storage[{i}].name", "`backup` is reserved for the backup container every tenant gets; choose another name"))
    # exchange links need every tenant's zones
    for name, t, lines in docs:
        for i, x in enumerate(t.get("exchange", [])):
            xf = f"exchange[{i}]"
            if x["from_zone"] not in tenant_zones.get(t["id"], set()):
                P(Problem(name, _line(lines, ("exchange", i, "from_zone")), f"{xf}.from_zone", f"unknown zone {x['from_zone']!r} of this tenant; use one of {sorted(tenant_zones.get(t['id'], []))}"))
            if x["to"] == t["id"]:
                P(Problem(name, _line(lines, ("exchange", i, "to")), f"{xf}.to", "a link to the tenant itself is not an exchange; zone rules come from infra/cloud.yaml"))
            elif x["to"] not in tenant_zones:
                P(Problem(name, _line(lines, ("exchange", i, "to")), f"{xf}.to", f"link to unknown tenant {x['to']!r}; add infra/tenants/{x['to']}.yaml or remove the link"))
            elif x["to_zone"] not in tenant_zones[x["to"]]:
                P(Problem(name, _line(lines, ("exchange", i, "to_zone")), f"{xf}.to_zone", f"tenant {x['to']!r} has no zone {x['to_zone']!r}; use one of {sorted(tenant_zones[x['to']])}"))
    # CIDR overlaps across all tenants
    nets.sort(key=lambda n: (n[0].network_address, n[0].prefixlen))
    for a in range(len(nets)):
        for b in range(a + 1, len(nets)):
            if nets[b][0].network_address > nets[a][0].broadcast_address:
                break
            na, nb = nets[a], nets[b]
            P(Problem(nb[1], nb[2], nb[3], f"{nb[0]} ({nb[4]}) overlaps {na[0]} ({na[4]}, {na[1]}:{na[2]}); pick a free range"))
    return problems


def _policy_findings(tenants: list[dict], config: dict, docs) -> list[Problem]:
    try:
        mod = importlib.import_module("policies.catalog_checks")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("policies"):
            return []
        raise
    files = {t["id"]: (name, lines) for name, t, lines in docs}
    out = []
    for f in mod.check(tenants, config) or []:
        get = (lambda k, _f=f: _f.get(k)) if isinstance(f, dict) else (lambda k, _f=f: getattr(_f, k, None))
        if (get("severity") or "").lower() in ("advisory", "info", "warning"):
            continue
        tid = get("tenant")
        fname, lines = files.get(tid, (get("file") or "(catalog)", {}))
        fld = get("field") or ""
        line = get("line") or _line(lines, tuple(int(p) if p.isdigit() else p for p in fld.replace("[", ".").replace("]", "").split(".") if p))
        rule = get("rule") or get("policy") or "policy"
        out.append(Problem(get("file") or fname, int(line), fld or "(tenant)", f"[{rule}] {get('message')}", source="policy"))
    return out


def validate(catalog_dir: str | Path = DEFAULT_CATALOG, policies: bool = True) -> list[Problem]:
    """Every problem of the catalog at once (empty list = valid)."""
    docs, problems, cloud, qc, bc = _read(Path(catalog_dir))
    problems += _cross_checks(docs, cloud, qc, bc)
    if policies:
        tenants = [_apply_defaults(t, qc, bc) for _, t, _ in docs]
        problems += _policy_findings(tenants, {"cloud": cloud, "quota_classes": qc, "backup_classes": bc}, docs)
    return sorted(problems, key=lambda p: (p.file, p.line, p.field))


def load(catalog_dir: str | Path = DEFAULT_CATALOG, check: bool = True) -> Catalog:
    """The catalog with defaults applied; raises InvalidCatalog (every problem) unless it is valid."""
    catalog_dir = Path(catalog_dir)
    docs, problems, cloud, qc, bc = _read(catalog_dir)
    if check:
        problems += _cross_checks(docs, cloud, qc, bc)
        tenants = [_apply_defaults(t, qc, bc) for _, t, _ in docs]
        problems += _policy_findings(tenants, {"cloud": cloud, "quota_classes": qc, "backup_classes": bc}, docs)
        if problems:
            raise InvalidCatalog(sorted(problems, key=lambda p: (p.file, p.line, p.field)))
    tenants = [_apply_defaults(t, qc, bc) for _, t, _ in docs]
    for (name, _, _), t in zip(docs, tenants, strict=True):
        t["file"] = name
    return Catalog(catalog_dir, sorted(tenants, key=lambda t: t["id"]), cloud, qc, bc,
                   {name: lines for name, _, lines in docs})
