"""What `govcloud harden` and `govcloud audit` do, callable from tests, the demo and benchmarks."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

from govcloud import waivers as waiver_model
from govcloud.errors import UserError
from govcloud.hardening import audit as audit_mod
from govcloud.hardening import catalog, evidence, runner
from govcloud.paths import state_dir


@dataclass
class Plan:
    inventory: Path
    hosts: dict
    limit: str | None
    extravars: dict
    tags: list[str] | None
    resolved_waivers: dict = field(default_factory=dict)


def plan(inventory: str | Path | None, *, limit: str | None = None, level: int | None = None,
         controls: str | list[str] | None = None, waivers_file: str | Path | None = None,
         today: dt.date | None = None) -> Plan:
    inv = Path(inventory) if inventory else runner.default_inventory()
    hosts = runner.select_hosts(runner.inventory_hosts(inv), limit)
    if level is not None and int(level) not in catalog.LEVELS:
        raise UserError(f"--level must be 2 or 3 (got {level})")
    wfile = waivers_file if waivers_file is not None else waiver_model.default_file()
    waivers = waiver_model.load(wfile) if wfile else []
    resolved = runner.resolve_waivers(hosts, waivers, today)
    # Parameters are checked here too, so a weak value is refused before anything runs.
    for host, info in hosts.items():
        lv = level if level is not None else info["vars"].get("mlps_level", 3)
        catalog.effective_params(lv, {k: v for k, v in info["vars"].items() if k.startswith("mlps_")}, where=host)
    extravars: dict = {"mlps_waivers": runner.active_waived(resolved)}
    if level is not None:
        extravars["mlps_level"] = int(level)
    tags = None
    if controls:
        ids = controls.split(",") if isinstance(controls, str) else list(controls)
        keys = sorted({catalog.canonical(i) for i in ids if i.strip()})
        table = catalog.by_id()
        tags = sorted({t for k in keys for t in (k, table[k].get("l2_id")) if t})
    return Plan(inv, hosts, limit, extravars, tags, resolved)


def harden(p: Plan, *, live: bool | None = None, stream=None) -> runner.RunResult:
    return runner.run_playbook("harden.yml", p.inventory, limit=p.limit, extravars=p.extravars, tags=p.tags,
                               live=live, stream=stream)


@dataclass
class AuditResult:
    rows: list[dict]
    summary: dict
    run: runner.RunResult
    missing: list[str]
    files: dict


def audit(p: Plan, *, out_dir: Path | None = None, live: bool | None = None, stream=None,
          write: bool = True) -> AuditResult:
    run = runner.run_playbook("audit.yml", p.inventory, limit=p.limit, extravars=p.extravars, check=True,
                              live=live, stream=stream)
    rows: list[dict] = []
    missing = []
    for host, info in p.hosts.items():
        report = run.reports.get(host)
        if not report:
            missing.append(host)
            continue
        rows += audit_mod.evaluate_host(report, tenant=runner.tenant_of(host, info),
                                        waivers=p.resolved_waivers.get(host, {}),
                                        pending=run.changed_paths.get(host, []))
    summary = audit_mod.summarize(rows)
    files = {}
    if write:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = Path(out_dir) if out_dir else state_dir() / "evidence" / f"audit-{stamp}"
        meta = {"generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "inventory": str(p.inventory),
                "catalog": str(catalog.CATALOG.relative_to(catalog.CATALOG.parents[2])), "unreachable": missing,
                "mode": "check mode + read-only probe", "seconds": run.seconds}
        files = evidence.write_all(out, rows, summary, meta)
    return AuditResult(rows, summary, run, missing, files)


def print_harden_summary(res: runner.RunResult, stream=None) -> None:
    stream = stream or sys.stdout
    print(f"harden: {res.status} in {res.seconds} s", file=stream)
    for host, s in sorted(res.stats.items()):
        print(f"  {host:<20} ok={s['ok']:<3} changed={s['changed']:<3} failed={s['failed']} "
              f"unreachable={s['unreachable']} skipped={s['skipped']}", file=stream)
    for f in res.failures:
        print(f"  FAILED {f['host']}: {f['task']}: {f['msg'][:600]}", file=stream)
