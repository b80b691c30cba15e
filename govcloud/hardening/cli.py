"""`govcloud harden`: apply MLPS 2.0 level 2/3 hardening through ansible-runner."""

from __future__ import annotations

import argparse

from govcloud.hardening import service


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", help="Ansible inventory (default: inventories/lab/hosts.yml)")
    parser.add_argument("--limit", help="host or group pattern(s), comma separated")
    parser.add_argument("--level", type=int, choices=(2, 3), help="override mlps_level for every selected host")
    parser.add_argument("--waivers", help="waiver file (default: $GOVCLOUD_WAIVERS or ./waivers.yaml)")


def register(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--controls", help="only these control ids, e.g. L3-CES1-01,L3-CES1-17 (tags)")
    parser.add_argument("--quiet", action="store_true", help="no live per-task progress")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    p = service.plan(args.inventory, limit=args.limit, level=args.level, controls=args.controls,
                     waivers_file=args.waivers)
    waived = {h: ids for h, ids in p.extravars["mlps_waivers"].items() if ids}
    for host, ids in sorted(waived.items()):
        print(f"waived on {host} (skipped): {', '.join(ids)}")
    res = service.harden(p, live=False if args.quiet else None)
    service.print_harden_summary(res)
    return 0 if res.ok else 1
