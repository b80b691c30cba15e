"""The catalog-level subset of the MLPS policies, run offline by `govcloud tenants validate`.

`check(tenants, config)` takes the catalog tenants (plain dicts after infra.catalog defaults) and returns
Findings (policies.engine.Finding: policy/rule, tenant, field, message, severity). The rules are the same
functions the CrossGuard pack calls on resource properties (policies/rules.py). A finding covered by an
active waiver comes back with severity "advisory" (validate skips it); an expired waiver is named in the
message and the finding still blocks.
"""

from __future__ import annotations

import datetime as dt

from policies import engine, rules
from policies.engine import Finding


def _pack_config(config: dict | None) -> tuple[dict, dict, dict]:
    """Pack config (defaults + $GOVCLOUD_POLICY_CONFIG) plus the class tables passed by infra.catalog."""
    config = dict(config or {})
    quota_classes = config.pop("quota_classes", None)
    backup_classes = config.pop("backup_classes", None)
    config.pop("cloud", None)
    cfg = engine.load_config(config)
    return cfg, quota_classes, backup_classes


def findings(tenants: list[dict], config: dict | None = None, today: dt.date | None = None) -> list[Finding]:
    cfg, qc, bc = _pack_config(config)
    ctx = engine.build_context(cfg, tenants=tenants, today=today)
    if qc is not None:
        ctx.quota_classes = qc
    if bc is not None:
        ctx.backup_classes = bc
    by_id = ctx.tenants
    out: list[Finding] = []

    def add(pid: str, t: dict, fld: str, msg: str, resource: str | None = None) -> None:
        out.append(Finding(pid, t["id"], resource or t["id"], msg, field=fld))

    for t in tenants:
        tid = t.get("id")
        if not tid:
            continue
        level = int(t.get("mlps_level") or 0)
        # mlps-metadata-required: the tenant's project/servers get these from the catalog
        md = {"department": tid, "mlps_level": t.get("mlps_level"), "owner": t.get("owner"),
              "data_location": t.get("data_location")}
        for msg in rules.metadata_problems(md, cfg["requiredMetadata"], cfg["dataLocationPrefix"]):
            fld = "data_location" if "data_location" in msg else ("owner" if "owner" in msg else "mlps_level")
            add("mlps-metadata-required", t, fld, msg)
        # mlps-mgmt-business-separation
        for msg in rules.management_zone_overlaps(t.get("zones") or []):
            add("mlps-mgmt-business-separation", t, "zones", msg)
        # mlps-quota-ceiling: what the class grants vs the cloud-wide ceilings
        granted = ctx.quota_ceiling_of(t)
        if granted is None:
            granted = t["quota"] if isinstance(t.get("quota"), dict) else {}
        probs = rules.quota_problems(granted, cfg["quotaCeilings"])
        if probs:
            add("mlps-quota-ceiling", t, "quota_class",
                f"quota class {t.get('quota_class')} x{t.get('quota_multiplier') or 1} grants more than the "
                f"cloud-wide ceiling: " + "; ".join(probs))
        # mlps-l3-dr-backup
        msg = rules.backup_class_problem(level, t.get("backup_class"), ctx.backup_classes)
        if msg:
            add("mlps-l3-dr-backup", t, "backup_class", msg)
        # servers: image, login, volumes
        for i, s in enumerate(t.get("servers") or []):
            rname = f"{tid}-{s.get('name')}"
            msg = rules.image_problem(s.get("image"), None, cfg["allowedImages"], cfg["allowedImageIds"])
            if msg:
                add("mlps-hardened-image", t, f"servers[{i}].image", msg, rname)
            for msg in rules.login_problems(None, s.get("user_data"), cfg["passwordPatterns"], require_key=False):
                add("mlps-key-login", t, f"servers[{i}].user_data", msg, rname)
            for j, v in enumerate(s.get("volumes") or []):
                vtype = v.get("type", v.get("volume_type"))
                msg = rules.volume_encryption_problem(level, vtype, cfg["encryptedVolumeTypes"])
                if msg:
                    add("mlps-l3-volume-encrypted", t, f"servers[{i}].volumes[{j}].type", msg,
                        f"{rname}-{v.get('name')}")
        # mlps-no-undeclared-cross-tenant: links must name real tenants and zones
        for msg in rules.exchange_target_problems(t, by_id):
            idx = msg.split("]")[0].split("[")[-1]
            add("mlps-no-undeclared-cross-tenant", t, f"exchange[{idx}]", msg)
    return engine.apply_waivers(out, ctx.waivers, ctx.today)


def check(tenants: list[dict], config: dict | None = None) -> list[Finding]:
    """The entry point of `govcloud tenants validate`: messages carry the MLPS item and waiver state."""
    out = []
    for f in findings(tenants, config):
        note = ""
        if f.status == "waived":
            note = f" -- WAIVED until {f.waiver['expires']} by {f.waiver['approver']}: {f.waiver['justification']}"
        elif f.status == "expired-waiver":
            note = f" -- waiver {f.waiver['scope']} EXPIRED on {f.waiver['expires']}, not applied"
        f.message = f"{f.message} (MLPS: {f.mlps}){note}"
        out.append(f)
    return out
