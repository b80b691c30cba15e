"""`govcloud drill [--json] [--site S] [--snapshot ID|random]`: restore drills with measured RPO/RTO per site."""

from __future__ import annotations

import argparse
import json
import sys

from backup.cli import DEFAULT_CONFIG


def cmd_drill(args) -> int:
    from backup import config
    from backup.drill import drill
    job = config.load(args.config)
    report = drill(job, sites=args.site, choice=args.snapshot, progress=not args.json and not args.quiet)
    if args.json:
        for s in report["sites"]:
            print(json.dumps(s, ensure_ascii=False, default=str))
    else:
        for s in report["sites"]:
            state = "PASS" if s["ok"] else "FAIL"
            rpo = "-" if s.get("rpo_s") is None else f"{s['rpo_s']:.0f}s"
            rto = "-" if s.get("rto_s") is None else f"{s['rto_s']:.1f}s"
            print(f"{state} {s['site']:<12} RPO {rpo:>8} (target {s.get('rpo_target_s')}s)  "
                  f"RTO {rto:>8} (target {s.get('rto_target_s')}s)  {s.get('error', '')}")
        print(f"report: {report['report_files']['html']}")
    if not report["ok"]:
        print(f"drill FAILED at site(s): {', '.join(report['failed_sites'])}", file=sys.stderr)
        return 1
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG, help="job config (YAML or JSON)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per site")
    parser.add_argument("--site", action="append", help="drill only this site (repeatable)")
    parser.add_argument("--snapshot", help="snapshot id (or run id) to restore, or `random`; default newest")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.set_defaults(func=cmd_drill)
