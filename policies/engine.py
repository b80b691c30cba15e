"""Evaluation of the MLPS rules on Pulumi resources and on the catalog, with waivers.

Pure Python over plain dicts: the CrossGuard pack (policies/__main__.py) converts its PolicyResources to
`Res` and calls `check_resource` / `check_stack`; `govcloud policy report` and the catalog checks call the
same functions. Tenant identity comes from resource names ("<tenant id>-..."); per-tenant facts (level,
zones, links, quota class) come from the catalog.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from govcloud import waivers as waivers_mod
from policies import rules

PACK_DIR = Path(__file__).resolve().parent
REPO = PACK_DIR.parent

T_SG_RULE = "openstack:networking/secGroupRule:SecGroupRule"
T_SG = "openstack:networking/secGroup:SecGroup"
T_INSTANCE = "openstack:compute/instance:Instance"
T_VOLUME = "openstack:blockstorage/volume:Volume"
T_PROJECT = "openstack:identity/project:Project"
T_SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"
T_CONTAINER = "openstack:objectstorage/container:Container"
T_FIP = "openstack:networking/floatingIp:FloatingIp"
T_FIP_ASSOC = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"
T_PORT = "openstack:networking/port:Port"
T_NETWORK = "openstack:networking/network:Network"
T_SUBNET = "openstack:networking/subnet:Subnet"
T_RBAC = "openstack:networking/rbacPolicyV2:RbacPolicyV2"


class Unknown:
    """A value not known during preview (computed by the cloud)."""

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return True


UNKNOWN = Unknown()


# ---------------------------------------------------------------- policy table and config

@lru_cache(maxsize=1)
def registry() -> dict[str, dict]:
    data = yaml.safe_load((PACK_DIR / "policies.yaml").read_text(encoding="utf-8"))
    return {p["id"]: p for p in data["policies"]}


def mlps_ref(policy_id: str) -> str:
    return "; ".join(registry()[policy_id]["mlps"])


def default_config() -> dict:
    return yaml.safe_load((PACK_DIR / "config.yaml").read_text(encoding="utf-8"))


def config_problems(cfg: dict) -> list[str]:
    import jsonschema

    schema = json.loads((PACK_DIR / "config.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in validator.iter_errors(cfg)]


def load_config(overrides: dict | None = None) -> dict:
    """Defaults, then $GOVCLOUD_POLICY_CONFIG (YAML/JSON file), then `overrides` (e.g. pack config)."""
    cfg = default_config()
    env = os.environ.get("GOVCLOUD_POLICY_CONFIG")
    if env:
        cfg.update(yaml.safe_load(Path(env).read_text(encoding="utf-8")) or {})
    if overrides:
        cfg.update({k: v for k, v in overrides.items() if k != "enforcementLevel"})
    return cfg


def _path(value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else REPO / p


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_catalog(catalog_dir: Path) -> list[dict]:
    """Tenants as plain dicts: through infra.catalog.load (defaults applied) when it exists; a file that
    the loader drops (schema errors) is kept as raw YAML so that the policies still see it."""
    raw = []
    for f in sorted(Path(catalog_dir).glob("*.yaml")):
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and data.get("id"):
            raw.append(data)
    try:
        from infra import catalog as infra_catalog  # type: ignore

        loaded = infra_catalog.load(catalog_dir, check=False)
        tenants = [dict(t) for t in getattr(loaded, "tenants", loaded)]
    except (ImportError, AttributeError, TypeError):
        return raw
    seen = {t.get("id") for t in tenants}
    return tenants + [t for t in raw if t["id"] not in seen]


@dataclass
class Context:
    tenants: dict[str, dict]
    config: dict
    quota_classes: dict = field(default_factory=dict)
    backup_classes: dict = field(default_factory=dict)
    waivers: list = field(default_factory=list)
    today: dt.date | None = None
    _zone_cache: list | None = field(default=None, init=False, repr=False)

    def tenant_of(self, name: str | None) -> dict | None:
        """The catalog tenant whose id prefixes the resource name ("<id>-...")."""
        if not name:
            return None
        best = None
        for tid in self.tenants:
            if name == tid or name.startswith(tid + "-"):
                if best is None or len(tid) > len(best):
                    best = tid
        return self.tenants.get(best) if best else None

    def zone_of(self, tenant: dict | None, name: str | None) -> dict | None:
        """The tenant zone named in a resource name: "<tenant>-<zone>" or "<tenant>-<zone>-..."."""
        if not tenant or not name:
            return None
        rest = name[len(tenant["id"]) + 1:] if name.startswith(tenant["id"] + "-") else ""
        best = None
        for z in tenant.get("zones") or []:
            zn = str(z.get("name"))
            if rest == zn or rest.startswith(zn + "-"):
                if best is None or len(zn) > len(str(best.get("name"))):
                    best = z
        return best

    def _zones(self) -> list[tuple[dict, dict]]:
        if self._zone_cache is None:
            self._zone_cache = [(t, z) for t in self.tenants.values() for z in t.get("zones") or []]
        return self._zone_cache

    def zone_by_cidr(self, prefix: str) -> list[tuple[dict, dict]]:
        """(tenant, zone) pairs whose CIDR overlaps `prefix`."""
        return [(t, z) for t, z in self._zones() if rules.cidr_overlaps(prefix, str(z.get("cidr")))]

    def business_cidrs(self) -> list[str]:
        return [str(z["cidr"]) for _t, z in self._zones()
                if z.get("kind") in ("business", "database", "dmz") and z.get("cidr")]

    def quota_ceiling_of(self, tenant: dict) -> dict[str, int] | None:
        cls = self.quota_classes.get(tenant.get("quota_class"))
        if not isinstance(cls, dict):
            return None
        return rules.quota_ceiling(cls, tenant.get("quota_multiplier") or 1.0)


def build_context(cfg: dict | None = None, tenants: list[dict] | None = None,
                  today: dt.date | None = None, with_waivers: bool = True) -> Context:
    """Raises govcloud.errors.UserError (incl. WaiverError) on a bad config or waivers file."""
    from govcloud.errors import UserError

    cfg = cfg if cfg is not None else load_config()
    problems = config_problems(cfg)
    if problems:
        raise UserError("policy config: " + "; ".join(problems))
    if tenants is None:
        tenants = load_catalog(_path(cfg.get("catalogDir") or "infra/tenants"))
    qc = _read_yaml(_path(cfg.get("quotaClassesFile") or "infra/quota_classes.yaml")) or {}
    bc = _read_yaml(_path(cfg.get("backupClassesFile") or "infra/backup_classes.yaml")) or {}
    waivers: list = []
    if with_waivers:
        wf = cfg.get("waiversFile") or waivers_mod.default_file()
        waivers = waivers_mod.load(_path(str(wf))) if wf else []
    return Context({t["id"]: t for t in tenants if t.get("id")}, cfg, qc, bc, waivers, today)


# ---------------------------------------------------------------- findings and waivers

@dataclass
class Finding:
    policy: str
    tenant: str | None
    resource: str | None
    message: str
    urn: str | None = None
    status: str = "violation"          # violation | waived | expired-waiver
    waiver: dict | None = None
    field: str | None = None           # catalog field (catalog checks only), e.g. servers[0].image

    @property
    def severity(self) -> str:
        """The policy's severity; "advisory" once an active waiver covers the finding."""
        return "advisory" if self.status == "waived" else registry()[self.policy]["severity"]

    @property
    def mlps(self) -> str:
        return mlps_ref(self.policy)

    @property
    def blocking(self) -> bool:
        return self.status != "waived"

    def text(self) -> str:
        who = f"tenant {self.tenant or '?'}, resource {self.resource or '(stack)'}"
        base = f"[{self.policy}] {who}: {self.message} (MLPS: {self.mlps})"
        if self.status == "waived" and self.waiver:
            w = self.waiver
            return (f"WAIVED {base} -- waiver {w['scope']} until {w['expires']}, approved by "
                    f"{w['approver']}: {w['justification']}")
        if self.status == "expired-waiver" and self.waiver:
            return f"{base} -- waiver {self.waiver['scope']} EXPIRED on {self.waiver['expires']}, not applied"
        return base

    def as_dict(self) -> dict:
        d = asdict(self)
        d["mlps"] = self.mlps
        d["severity"] = self.severity
        d["text"] = self.text()
        return d


def apply_waivers(findings: list[Finding], waivers: list, today: dt.date | None = None) -> list[Finding]:
    for f in findings:
        names = [n for n in (f.tenant, f.resource, f"{f.tenant}/{f.resource}" if f.tenant and f.resource else None)
                 if n]
        active, expired = waivers_mod.find(waivers, f.policy, names, today)
        w = active or expired
        if w is None:
            continue
        f.status = "waived" if active else "expired-waiver"
        f.waiver = {"scope": w.scope, "justification": w.justification, "approver": w.approver,
                    "expires": w.expires.isoformat(), "source": w.source}
    return findings


# ---------------------------------------------------------------- resources

@dataclass
class Res:
    type: str
    name: str
    props: dict
    urn: str = ""
    deps: dict[str, list[str]] = field(default_factory=dict)   # property -> URNs it depends on
    dependencies: list[str] = field(default_factory=list)


def _known(v: Any) -> Any:
    return None if isinstance(v, Unknown) else v


def _int_or_none(v: Any) -> int | None:
    v = _known(v)
    try:
        return int(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _finding(pid: str, tenant: dict | None, res: Res, msg: str) -> Finding:
    return Finding(pid, tenant["id"] if tenant else None, res.name, msg, res.urn)


def _sg_rule_view(res: Res) -> dict:
    p = res.props
    rule = {k: _known(p.get(k)) for k in ("direction", "protocol", "portRangeMin", "portRangeMax",
                                          "remoteIpPrefix", "remoteGroupId", "remoteAddressGroupId")}
    # A remote group computed during preview is still a remote group.
    for k in ("remoteGroupId", "remoteAddressGroupId"):
        if isinstance(p.get(k), Unknown):
            rule[k] = "<computed>"
    return rule


def _sg_zone(res: Res, ctx: Context, tenant: dict | None, by_urn: dict[str, Res] | None) -> dict | None:
    zone = ctx.zone_of(tenant, res.name)
    if zone is None and by_urn:
        for urn in res.deps.get("securityGroupId", []):
            sg = by_urn.get(urn)
            if sg is not None:
                zone = ctx.zone_of(tenant, sg.name)
    return zone


def check_resource(res: Res, ctx: Context, only: str | None = None) -> list[Finding]:
    """Resource-scope policies on one resource (needs no other resource)."""
    cfg = ctx.config
    p = res.props
    tenant = ctx.tenant_of(res.name)
    level = int((tenant or {}).get("mlps_level") or 0)
    out: list[Finding] = []

    def want(pid: str) -> bool:
        return only is None or only == pid

    if res.type == T_SG_RULE:
        rule = _sg_rule_view(res)
        if want("mlps-sg-no-open-admin-ports"):
            ports = rules.open_admin_ports(rule, cfg["adminPorts"], cfg["openCidrs"])
            if ports:
                out.append(_finding("mlps-sg-no-open-admin-ports", tenant, res,
                                    f"ingress from {rule.get('remoteIpPrefix') or 'any address'} opens "
                                    f"port(s) {', '.join(map(str, ports))}"))

    elif res.type == T_VOLUME and want("mlps-l3-volume-encrypted") and tenant:
        vt = p.get("volumeType")
        if not isinstance(vt, Unknown):
            msg = rules.volume_encryption_problem(level, vt, cfg["encryptedVolumeTypes"])
            if msg:
                out.append(_finding("mlps-l3-volume-encrypted", tenant, res, msg))

    elif res.type == T_INSTANCE:
        if want("mlps-metadata-required"):
            md = p.get("metadata")
            md = {k: _known(v) for k, v in md.items()} if isinstance(md, dict) else {}
            probs = rules.metadata_problems(md, cfg["requiredMetadata"], cfg["dataLocationPrefix"])
            if probs:
                out.append(_finding("mlps-metadata-required", tenant, res, "server metadata: " + "; ".join(probs)))
        if want("mlps-hardened-image"):
            name, iid = p.get("imageName"), p.get("imageId")
            if not isinstance(name, Unknown) and not (isinstance(iid, Unknown) and not name):
                msg = rules.image_problem(_known(name), _known(iid), cfg["allowedImages"], cfg["allowedImageIds"])
                if msg:
                    out.append(_finding("mlps-hardened-image", tenant, res, msg))
        if want("mlps-key-login"):
            kp = p.get("keyPair")
            ud = p.get("userData")
            probs = rules.login_problems(kp if kp else None, None if isinstance(ud, Unknown) else ud,
                                         cfg["passwordPatterns"])
            if probs:
                out.append(_finding("mlps-key-login", tenant, res, "; ".join(probs)))

    elif res.type == T_PROJECT and want("mlps-metadata-required"):
        tags = p.get("tags")
        md = rules.tags_to_metadata([t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [])
        probs = rules.metadata_problems(md, cfg["requiredMetadata"], cfg["dataLocationPrefix"])
        if probs:
            out.append(_finding("mlps-metadata-required", tenant, res,
                                "project tags (key=value): " + "; ".join(probs)))

    elif res.type in cfg["quotaKeys"] and want("mlps-quota-ceiling") and tenant:
        ceiling = ctx.quota_ceiling_of(tenant)
        if ceiling is not None:
            quotas = {cls_key: _int_or_none(p.get(prop)) for prop, cls_key in cfg["quotaKeys"][res.type].items()}
            probs = rules.quota_problems(quotas, ceiling)
            if probs:
                out.append(_finding("mlps-quota-ceiling", tenant, res,
                                    f"quota class {tenant.get('quota_class')} x{tenant.get('quota_multiplier') or 1}: "
                                    + "; ".join(probs)))
    return out


def _cross_tenant_sg_rule(res: Res, rule: dict, tenant: dict, ctx: Context,
                          by_urn: dict[str, Res] | None) -> list[Finding]:
    prefix = rule.get("remoteIpPrefix")
    if not prefix or rules._net(prefix) is None or rules._net(prefix).prefixlen == 0:
        return []
    zone = _sg_zone(res, ctx, tenant, by_urn)
    direction = str(rule.get("direction") or "ingress").lower()
    ports = rules.port_range(rule)
    out = []
    for other, ozone in ctx.zone_by_cidr(prefix):
        if other["id"] == tenant["id"]:
            continue
        if direction == "ingress":
            sender, receiver, fz, tz = other, tenant, ozone.get("name"), (zone or {}).get("name")
        else:
            sender, receiver, fz, tz = tenant, other, (zone or {}).get("name"), ozone.get("name")
        if not rules.link_declared(sender.get("exchange") or [], receiver["id"], fz, tz, ports,
                                   rule.get("protocol")):
            out.append(_finding("mlps-no-undeclared-cross-tenant", tenant, res,
                                f"{direction} rule admits {prefix} ({other['id']} zone {ozone.get('name')}) "
                                f"but the catalog declares no exchange link {sender['id']}:{fz} -> "
                                f"{receiver['id']}:{tz or '?'}"
                                + (f" ports {ports.start}-{ports.stop - 1}" if ports else "")))
    return out


def _dep_resources(res: Res, prop: str, by_urn: dict[str, Res]) -> list[Res]:
    return [by_urn[u] for u in res.deps.get(prop, []) if u in by_urn]


def _role_of(res: Res) -> str:
    md = res.props.get("metadata")
    if isinstance(md, dict) and isinstance(md.get("role"), str) and md.get("role"):
        return md["role"]
    return re.sub(r"-\d+$", "", res.name)


def check_stack(resources: list[Res], ctx: Context, only: str | None = None) -> list[Finding]:
    """Stack-scope policies (need several resources at once)."""
    cfg = ctx.config
    by_urn = {r.urn: r for r in resources if r.urn}
    out: list[Finding] = []

    def want(pid: str) -> bool:
        return only is None or only == pid

    present: dict[str, dict] = {}
    for r in resources:
        t = ctx.tenant_of(r.name)
        if t:
            present[t["id"]] = t

    if want("mlps-mgmt-no-floating-ip"):
        for r in resources:
            if r.type not in (T_FIP, T_FIP_ASSOC):
                continue
            tenant = ctx.tenant_of(r.name)
            hit = None
            for port in _dep_resources(r, "portId", by_urn):
                owner = ctx.tenant_of(port.name) or tenant
                zone = ctx.zone_of(owner, port.name)
                if zone is None:
                    for net in _dep_resources(port, "networkId", by_urn):
                        zone = ctx.zone_of(ctx.tenant_of(net.name), net.name) or zone
                if zone and zone.get("kind") == "management":
                    hit = f"port {port.name} is in management zone {zone.get('name')}"
            fixed = _known(r.props.get("fixedIp"))
            if not hit and fixed:
                for t, z in ctx.zone_by_cidr(f"{fixed}/32"):
                    if z.get("kind") == "management":
                        hit = f"fixed IP {fixed} is in management zone {t['id']}:{z.get('name')}"
            if hit:
                out.append(_finding("mlps-mgmt-no-floating-ip", tenant, r, f"floating IP bound to a management port: {hit}"))

    if want("mlps-l3-anti-affinity"):
        groups = {r.urn: r for r in resources if r.type == T_SERVER_GROUP}
        per_tenant: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        first: dict[tuple[str, str], Res] = {}
        for r in resources:
            if r.type != T_INSTANCE:
                continue
            tenant = ctx.tenant_of(r.name)
            if not tenant:
                continue
            role = _role_of(r)
            pols: list[str] | None = None
            for urn in r.deps.get("schedulerHints", []):
                g = groups.get(urn)
                if g is not None:
                    gp = g.props.get("policies")
                    pols = [gp] if isinstance(gp, str) else [x for x in gp if isinstance(x, str)] \
                        if isinstance(gp, list) else []
            per_tenant[tenant["id"]][role].append(pols)
            if (tenant["id"], role) not in first or r.name < first[(tenant["id"], role)].name:
                first[(tenant["id"], role)] = r
        for tid, roles in per_tenant.items():
            tenant = ctx.tenants[tid]
            for role, members in roles.items():
                for msg in rules.anti_affinity_problems(tenant.get("mlps_level"), {role: members},
                                                        cfg["antiAffinityPolicies"]):
                    out.append(_finding("mlps-l3-anti-affinity", tenant, first[(tid, role)], msg))

    if want("mlps-l3-dr-backup"):
        regions: dict[str, list] = defaultdict(list)
        for r in resources:
            if r.type == T_CONTAINER:
                t = ctx.tenant_of(r.name)
                if t:
                    regions[t["id"]].append(_known(r.props.get("region")))
        for tid, tenant in sorted(present.items()):
            msg = rules.dr_backup_problem(tenant.get("mlps_level"), regions.get(tid, []), cfg["drRegion"])
            if msg:
                out.append(Finding("mlps-l3-dr-backup", tid, None, msg))

    for r in resources:
        if r.type != T_SG_RULE:
            continue
        tenant = ctx.tenant_of(r.name)
        if not tenant:
            continue
        rule = _sg_rule_view(r)
        if want("mlps-mgmt-business-separation"):
            zone = _sg_zone(r, ctx, tenant, by_urn)
            ports = rules.management_ports_from_business(rule, (zone or {}).get("kind"), ctx.business_cidrs(),
                                                         cfg["managementPorts"])
            if ports:
                out.append(_finding("mlps-mgmt-business-separation", tenant, r,
                                    f"{zone.get('kind')} zone {zone.get('name')} admits management port(s) "
                                    f"{', '.join(map(str, ports))} from business-side CIDR "
                                    f"{rule.get('remoteIpPrefix')}"))
        if want("mlps-no-undeclared-cross-tenant"):
            out += _cross_tenant_sg_rule(r, rule, tenant, ctx, by_urn)

    if want("mlps-no-undeclared-cross-tenant"):
        for r in resources:
            if r.type != T_RBAC:
                continue
            tenant = ctx.tenant_of(r.name)
            target = _known(r.props.get("targetTenant"))
            others = {ctx.tenant_of(d.name)["id"] for d in _dep_resources(r, "targetTenant", by_urn)
                      if ctx.tenant_of(d.name)}
            if target == "*":
                out.append(_finding("mlps-no-undeclared-cross-tenant", tenant, r,
                                    "network RBAC shares the object with every project (target_tenant '*')"))
                continue
            if not others and target and tenant:
                # a literal project id: only the project resources of this stack can name it
                continue
            for oid in sorted(others):
                if tenant and oid != tenant["id"]:
                    other = ctx.tenants[oid]
                    if not (rules.link_declared(tenant.get("exchange") or [], oid, None, None)
                            or rules.link_declared(other.get("exchange") or [], tenant["id"], None, None)):
                        out.append(_finding("mlps-no-undeclared-cross-tenant", tenant, r,
                                            f"network RBAC shares with tenant {oid} but the catalog declares no "
                                            f"exchange link between {tenant['id']} and {oid}"))
    return out


def check_all(resources: list[Res], ctx: Context) -> list[Finding]:
    """Every policy on a set of resources, waivers applied (used by reports and tests)."""
    findings = [f for r in resources for f in check_resource(r, ctx)]
    findings += check_stack(resources, ctx)
    return apply_waivers(findings, ctx.waivers, ctx.today)
