"""`govcloud audit`: check-mode audit against the MLPS catalog with per-control evidence."""

from __future__ import annotations

import argparse
import json
import sys

from govcloud.hardening import service
from govcloud.hardening.catalog import PASS


def register(parser: argparse.ArgumentParser) -> None:
    from govcloud.hardening.cli import add_common

    add_common(parser)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per host and control (JSON lines) on stdout")
    parser.add_argument("--out", help="evidence directory (default: .govcloud/evidence/audit-<UTC time>)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 unless every scored (enforced/config-verified) control is 符合")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    p = service.plan(args.inventory, limit=args.limit, level=args.level, waivers_file=args.waivers)
    res = service.audit(p, out_dir=args.out, live=False if args.json else None)
    if args.json:
        for r in res.rows:
            print(json.dumps({k: r[k] for k in ("host", "tenant", "level", "control", "key", "family", "tier",
                                                 "verdict", "expected", "observed", "timestamp", "waiver")},
                             ensure_ascii=False))
    else:
        for host, s in sorted(res.summary["hosts"].items()):
            print(f"{host:<20} level {s['level']} tenant {s['tenant']:<8} score {s['score']} "
                  f"符合 {s['pass']}/{s['scored']} 部分符合 {s['partial']} 不符合 {s['fail']} "
                  f"不适用 {s['na']} waived {s['waived']}")
        for t, s in sorted(res.summary["tenants"].items()):
            print(f"tenant {t:<12} score {s['score']} ({len(s['hosts'])} hosts)")
        for r in res.rows:
            if r["verdict"] not in (PASS, "不适用"):
                print(f"  {r['host']:<16} {r['control']:<11} {r['verdict']:<5} {r['record'][:160]}")
        for kind, path in res.files.items():
            print(f"evidence {kind}: {path}")
    for host in res.missing:
        print(f"audit: no result from {host} (unreachable or failed): "
              f"{[f['msg'][:200] for f in res.run.failures if f['host'] == host]}", file=sys.stderr)
    if res.missing:
        return 1
    if args.strict and any(r["verdict"] not in (PASS, "不适用", "waived") for r in res.rows):
        return 1
    return 0
