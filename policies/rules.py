"""The MLPS rule functions: plain functions on plain values, no Pulumi and no I/O.

Each function answers one question and returns the problems it found (empty list / None = compliant).
The same function is called by the CrossGuard pack (on a resource's properties) and by the catalog
checks (on values taken from a catalog entry), so no rule is written twice. Thresholds and
allow-lists are arguments; their values come from the pack configuration (policies/config.yaml).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

ANY_CIDRS = ("0.0.0.0/0", "::/0")


# ---------------------------------------------------------------- helpers

@lru_cache(maxsize=4096)
def _net(cidr: str):
    try:
        return ipaddress.ip_network(str(cidr).strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def cidr_overlaps(a: str, b: str) -> bool:
    na, nb = _net(a), _net(b)
    return bool(na and nb and na.version == nb.version and na.overlaps(nb))


def cidr_within(inner: str, outer: str) -> bool:
    ni, no = _net(inner), _net(outer)
    return bool(ni and no and ni.version == no.version and ni.subnet_of(no))


def port_range(rule: Mapping) -> range | None:
    """The ports a rule opens as a range (None: every port; empty range: none, e.g. icmp)."""
    proto = str(rule.get("protocol") or "any").lower()
    if proto in ("icmp", "ipv6-icmp", "icmpv6", "1", "58"):
        return range(0)
    lo, hi = rule.get("portRangeMin"), rule.get("portRangeMax")
    lo = int(lo) if lo not in (None, "", 0) else None
    hi = int(hi) if hi not in (None, "", 0) else None
    if lo is None and hi is None:
        return None
    lo = lo if lo is not None else hi
    hi = hi if hi is not None else lo
    return range(lo, hi + 1)


def rule_ports(rule: Mapping, ports: Iterable[int]) -> list[int]:
    """Which of `ports` a security-group rule (portRangeMin/Max, protocol) opens. A rule without a
    range (or protocol any/tcp/udp with 0..0) opens every port; icmp opens none."""
    proto = str(rule.get("protocol") or "any").lower()
    if proto in ("icmp", "ipv6-icmp", "icmpv6", "1", "58"):
        return []
    lo, hi = rule.get("portRangeMin"), rule.get("portRangeMax")
    lo = int(lo) if lo not in (None, "", 0) else None
    hi = int(hi) if hi not in (None, "", 0) else None
    if lo is None and hi is None:
        return sorted(set(int(p) for p in ports))
    lo = lo if lo is not None else hi
    hi = hi if hi is not None else lo
    return sorted({int(p) for p in ports if lo <= int(p) <= hi})


def _remote_is_any(rule: Mapping, open_cidrs: Iterable[str]) -> bool:
    prefix = rule.get("remoteIpPrefix")
    if not prefix:
        # No prefix and no remote group: OpenStack admits every source.
        return not rule.get("remoteGroupId") and not rule.get("remoteAddressGroupId")
    net = _net(prefix)
    if net is None:
        return False
    return any(net == _net(c) or (net.prefixlen == 0) for c in open_cidrs)


# ---------------------------------------------------------------- mlps-sg-no-open-admin-ports

def open_admin_ports(rule: Mapping, admin_ports: Iterable[int], open_cidrs: Iterable[str] = ANY_CIDRS) -> list[int]:
    """Admin/database ports an ingress rule opens to the whole Internet."""
    if str(rule.get("direction") or "ingress").lower() != "ingress":
        return []
    if not _remote_is_any(rule, open_cidrs):
        return []
    return rule_ports(rule, admin_ports)


# ---------------------------------------------------------------- mlps-mgmt-business-separation

def management_ports_from_business(rule: Mapping, zone_kind: str | None, business_cidrs: Iterable[str],
                                   management_ports: Iterable[int]) -> list[int]:
    """Management ports that an ingress rule of a business/database/dmz zone admits from a business-side CIDR."""
    if zone_kind in (None, "management"):
        return []
    if str(rule.get("direction") or "ingress").lower() != "ingress":
        return []
    prefix = rule.get("remoteIpPrefix")
    net = _net(prefix) if prefix else None
    if net is None or net.prefixlen == 0:  # "any" is mlps-sg-no-open-admin-ports' case
        return []
    if not any(cidr_overlaps(prefix, c) for c in business_cidrs):
        return []
    return rule_ports(rule, management_ports)


def management_zone_overlaps(zones: Iterable[Mapping]) -> list[str]:
    """Management zones must be networks of their own: no CIDR or name shared with another zone."""
    zones = list(zones)
    problems = []
    for m in (z for z in zones if z.get("kind") == "management"):
        for o in zones:
            if o is m:
                continue
            if o.get("name") == m.get("name"):
                problems.append(f"zone {m.get('name')!r} is both management and {o.get('kind')}")
            elif cidr_overlaps(str(m.get("cidr")), str(o.get("cidr"))):
                problems.append(f"management zone {m.get('name')} ({m.get('cidr')}) overlaps "
                                f"{o.get('kind')} zone {o.get('name')} ({o.get('cidr')})")
    return problems


# ---------------------------------------------------------------- mlps-l3-volume-encrypted

def volume_encryption_problem(mlps_level: int, volume_type: str | None,
                              encrypted_types: Iterable[str]) -> str | None:
    if int(mlps_level or 0) < 3:
        return None
    encrypted_types = list(encrypted_types)
    if volume_type in encrypted_types:
        return None
    shown = volume_type if volume_type else "(default, unencrypted)"
    return f"volume type {shown} is not encrypted; level 3 needs one of {', '.join(encrypted_types)}"


# ---------------------------------------------------------------- mlps-l3-anti-affinity

def anti_affinity_problems(mlps_level: int, role_members: Mapping[str, list[list[str] | None]],
                           allowed_policies: Iterable[str]) -> list[str]:
    """role -> for each server of that role the policies of its server group (None: no group).
    Every server of a role with more than one server must be in an anti-affinity group."""
    if int(mlps_level or 0) < 3:
        return []
    allowed = set(allowed_policies)
    problems = []
    for role, members in sorted(role_members.items()):
        if len(members) < 2:
            continue
        bad = sum(1 for pols in members if not pols or not (set(pols) & allowed))
        if bad:
            problems.append(f"role {role}: {bad} of {len(members)} replicas are not in an anti-affinity "
                            f"server group ({'/'.join(sorted(allowed))})")
    return problems


# ---------------------------------------------------------------- mlps-l3-dr-backup

def dr_backup_problem(mlps_level: int, container_regions: Iterable[str | None], dr_region: str) -> str | None:
    if int(mlps_level or 0) < 3:
        return None
    if dr_region in set(container_regions):
        return None
    return f"no object-storage container in DR region {dr_region!r} (level 3 needs an off-site backup copy)"


def backup_class_problem(mlps_level: int, backup_class: str | None, classes: Mapping[str, Mapping]) -> str | None:
    if int(mlps_level or 0) < 3:
        return None
    if not backup_class:
        return "no backup_class; level 3 needs a backup class with an off-site (remote) copy"
    spec = classes.get(backup_class)
    if spec is None:
        return None if not classes else f"backup_class {backup_class!r} is not defined"
    if "remote" not in (spec.get("sites") or []):
        return f"backup_class {backup_class!r} has no remote (off-site) site; level 3 needs one"
    return None


# ---------------------------------------------------------------- mlps-metadata-required

def metadata_problems(metadata: Mapping | None, required: Iterable[str], location_prefix: str = "CN-") -> list[str]:
    metadata = metadata or {}
    problems = [f"missing {key}" for key in required if str(metadata.get(key) or "").strip() == ""]
    level = metadata.get("mlps_level")
    if level not in (None, "") and str(level).strip() not in ("2", "3"):
        problems.append(f"mlps_level {level!r} is not 2 or 3")
    loc = metadata.get("data_location")
    if loc not in (None, "") and not str(loc).startswith(location_prefix):
        problems.append(f"data_location {loc!r} is outside China (must start with {location_prefix})")
    return problems


def tags_to_metadata(tags: Iterable[str] | None) -> dict[str, str]:
    """Project tags `key=value` (or `key:value`) as a dict."""
    out: dict[str, str] = {}
    for tag in tags or []:
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_.-]*)[=:](.*)$", str(tag))
        if m:
            out.setdefault(m.group(1), m.group(2))
    return out


# ---------------------------------------------------------------- mlps-quota-ceiling

def quota_ceiling(quota_class: Mapping[str, float], multiplier: float = 1.0) -> dict[str, int]:
    return {k: int(math.ceil(float(v) * float(multiplier or 1.0))) for k, v in quota_class.items()
            if isinstance(v, int | float)}


def quota_problems(quotas: Mapping[str, float | None], ceiling: Mapping[str, float]) -> list[str]:
    """Quota values above the ceiling; -1 (unlimited) is above every ceiling."""
    problems = []
    for key, value in sorted(quotas.items()):
        if value is None or key not in ceiling:
            continue
        value = float(value)
        if value < 0 or value > float(ceiling[key]):
            shown = "unlimited" if value < 0 else f"{value:g}"
            problems.append(f"{key} {shown} exceeds ceiling {float(ceiling[key]):g}")
    return problems


# ---------------------------------------------------------------- mlps-hardened-image

def image_problem(image_name: str | None, image_id: str | None, allowed_names: Iterable[str],
                  allowed_ids: Iterable[str] = ()) -> str | None:
    names, ids = set(allowed_names), set(allowed_ids)
    if image_name and image_name in names:
        return None
    if image_id and image_id in ids:
        return None
    shown = image_name or image_id or "(none: boot from volume/unknown image)"
    return f"image {shown} is not on the hardened-image allow-list ({', '.join(sorted(names | ids))})"


# ---------------------------------------------------------------- mlps-key-login

def login_problems(key_pair: str | None, user_data: str | None, password_patterns: Iterable[str],
                   require_key: bool = True) -> list[str]:
    problems = []
    if require_key and not key_pair:
        problems.append("no key pair: log-in must be by SSH key")
    if user_data:
        hits = [p for p in password_patterns if re.search(p, user_data)]
        if hits:
            problems.append(f"user data injects a password or enables password log-in (matched {hits[0]!r})")
    return problems


# ---------------------------------------------------------------- mlps-no-undeclared-cross-tenant

def link_declared(exchange_of_sender: Iterable[Mapping], receiver: str, from_zone: str | None,
                  to_zone: str | None, ports: Iterable[int] | None = None, protocol: str | None = None) -> bool:
    """Does the sender's catalog declare a link to `receiver` covering the zones, protocol and ports?
    None means "not known / any" for zones, ports and protocol."""
    for link in exchange_of_sender or []:
        if link.get("to") != receiver:
            continue
        if from_zone and link.get("from_zone") not in (None, from_zone):
            continue
        if to_zone and link.get("to_zone") not in (None, to_zone):
            continue
        lproto = str(link.get("protocol") or "tcp").lower()
        if protocol and protocol.lower() not in ("any", lproto):
            continue
        lports = link.get("ports")
        if ports is not None and lports:
            allowed = {int(p) for p in lports}
            if not all(p in allowed for p in ports):
                continue
        return True
    return False


def exchange_target_problems(tenant: Mapping, tenants_by_id: Mapping[str, Mapping]) -> list[str]:
    problems = []
    own_zones = {z.get("name") for z in tenant.get("zones") or []}
    for i, link in enumerate(tenant.get("exchange") or []):
        to = link.get("to")
        if to == tenant.get("id"):
            problems.append(f"exchange[{i}]: link to itself")
            continue
        if to not in tenants_by_id:
            problems.append(f"exchange[{i}]: tenant {to!r} is not in the catalog")
            continue
        if link.get("from_zone") not in own_zones:
            problems.append(f"exchange[{i}]: from_zone {link.get('from_zone')!r} is not a zone of {tenant.get('id')}")
        their = {z.get("name") for z in tenants_by_id[to].get("zones") or []}
        if link.get("to_zone") not in their:
            problems.append(f"exchange[{i}]: to_zone {link.get('to_zone')!r} is not a zone of {to}")
    return problems
