"""Turn the audit probe's observations into per-control verdicts, scores and evidence rows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from govcloud.hardening import catalog
from govcloud.hardening.catalog import FAIL, NA, PARTIAL, PASS, WAIVED

EXCERPT = 400


def _excerpt(text: str) -> str:
    text = (text or "").strip()
    return text if len(text) <= EXCERPT else text[:EXCERPT] + " …"


def evaluate_host(report: dict, *, tenant: str = "-", waivers: dict | None = None,
                  pending: list[str] | None = None, when: str | None = None) -> list[dict]:
    """One evidence row per control applicable at the host's level.

    report: the probe report of one host (host, level, params, waived, shared_kernel, probe{checks}).
    waivers: {control key: {"active": Waiver|None, "expired": Waiver|None}} for this host."""
    host = report["host"]
    level = int(report["level"])
    params = report["params"]
    observed = report.get("probe", {}).get("checks", {})
    when = when or report.get("probe", {}).get("finished") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    waivers = waivers or {}
    rows = []
    for c in catalog.controls(level):
        item = catalog.item_id(c, level)
        w = waivers.get(c["id"], {})
        active, expired = w.get("active"), w.get("expired")
        checks = []
        for chk in c.get("checks", []):
            obs = observed.get(chk["id"], {})
            out = obs.get("out", "")
            ok = obs != {} and catalog.evaluate(chk, out, params, obs.get("rc"))
            checks.append({"id": chk["id"], "desc": chk["desc"], "expected": catalog.expected_text(chk, params),
                           "observed": _excerpt(out) if obs else "(not probed)", "ok": ok,
                           "tier": catalog.check_tier(c, chk)})
        tier = c["tier"]
        if active:
            verdict = WAIVED
        elif tier == "evidence-only":
            verdict = NA
        else:
            verdict = catalog.control_verdict([x["ok"] for x in checks])
        failed = [x for x in checks if not x["ok"]]
        if verdict == WAIVED:
            record = (f"waived until {active.expires.isoformat()} by {active.approver}: {active.justification}")
        elif tier == "evidence-only":
            record = f"主机无法核查，需提供证据 / host check impossible, evidence needed: {c.get('evidence', '')}"
        elif not failed:
            record = "; ".join(f"{x['desc']}: {x['observed'] or '(none)'}" for x in checks)
        else:
            record = "; ".join(f"{x['desc']}: observed {x['observed'] or '(none)'!s}, expected {x['expected']}"
                               for x in failed)
        rows.append({
            "host": host, "tenant": tenant, "level": level, "control": item, "key": c["id"],
            "family": c["family"], "clause": f"GB/T 22239-2019 {c['clause'][level]}",
            "requirement": c["requirement"], "gloss": c["gloss"], "tier": tier, "verdict": verdict,
            "expected": "; ".join(f"{x['desc']} {x['expected']}" for x in checks),
            "observed": "; ".join(f"{x['desc']}={x['observed']}" for x in checks),
            "record": _excerpt(record), "checks": checks, "timestamp": when,
            "waiver": ({"approver": active.approver, "expires": active.expires.isoformat(),
                        "justification": active.justification} if active else None),
            "expired_waiver": ({"approver": expired.approver, "expires": expired.expires.isoformat()}
                               if expired and not active else None),
            "pending_changes": [t for t in (pending or []) if _mentions(t, c)],
            "shared_kernel": bool(report.get("shared_kernel")),
        })
    return rows


def _mentions(task_path: str, control: dict) -> bool:
    """True when a changed task (roles/<role>/tasks/<file>) is one of the control's remediation task files."""
    rem = control.get("remediation") or {}
    return any(task_path == f"roles/{rem.get('role')}/tasks/{t}" for t in rem.get("tasks", []))


def score(rows: list[dict]) -> dict:
    """符合 counts 1, 部分符合 0.5; evidence-only (不适用) and waived controls are not scored."""
    counted = [r for r in rows if r["verdict"] in (PASS, PARTIAL, FAIL)]
    full = sum(r["verdict"] == PASS for r in rows)
    part = sum(r["verdict"] == PARTIAL for r in rows)
    pct = round(100.0 * (full + 0.5 * part) / len(counted), 1) if counted else None
    by = defaultdict(int)
    for r in rows:
        by[r["verdict"]] += 1
    return {"score": pct, "pass": full, "partial": part, "fail": by[FAIL], "na": by[NA], "waived": by[WAIVED],
            "scored": len(counted), "controls": len(rows)}


def summarize(rows: list[dict]) -> dict:
    hosts: dict[str, list] = defaultdict(list)
    tenants: dict[str, list] = defaultdict(list)
    for r in rows:
        hosts[r["host"]].append(r)
        tenants[r["tenant"]].append(r)
    return {"hosts": {h: {"level": rs[0]["level"], "tenant": rs[0]["tenant"], **score(rs)} for h, rs in hosts.items()},
            "tenants": {t: {"hosts": sorted({r["host"] for r in rs}), **score(rs)} for t, rs in tenants.items()},
            "total": score(rows)}
