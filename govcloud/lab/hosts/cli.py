"""`govcloud lab hosts ...`: up, down, status, sync, add, remove, ssh, sites, site-user, inventory."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _hosts():
    from govcloud.lab import hosts

    return hosts


def _print_status(st: dict) -> None:
    print(f"hosts: {st.get('state')}  ({st.get('memory_mib', 0)} MiB PSS)")
    for h in st.get("hosts", []):
        mem = "" if h.get("memory_mib") is None else f"{h['memory_mib']} MiB"
        print(f"  {h['name']:<24} {h['address']:<15} {h['role']:<8} {h['state']:<8} {mem}")
    if st.get("inventory"):
        print(f"inventory {st['inventory']}")


def cmd_up(args: argparse.Namespace) -> int:
    _print_status(_hosts().up(count=args.count))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _hosts().down()
    print("lab hosts down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    st = _hosts().status()
    if args.json:
        json.dump(st, sys.stdout, indent=2)
        print()
    else:
        _print_status(st)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    out = _hosts().sync()
    print(f"added: {', '.join(out['added']) or '-'}; removed: {', '.join(out['removed']) or '-'}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    h = _hosts().add_host(args.name, role=args.role, disk_mib=args.disk_mib, mlps_level=args.mlps_level)
    print(f"{h['name']} {h['address']} {h['state']}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    _hosts().remove_host(args.name)
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    argv = _hosts().ssh_argv(args.name) + list(args.command)
    if not args.command:
        argv = [a for a in argv if a != "BatchMode=yes"]
        argv.insert(1, "-t")
    os.execvp(argv[0], argv)
    return 0  # not reached


def cmd_sites(args: argparse.Namespace) -> int:
    json.dump(_hosts().sites(), sys.stdout, indent=2)
    print()
    return 0


def cmd_site_user(args: argparse.Namespace) -> int:
    json.dump(_hosts().site_user(args.tenant), sys.stdout, indent=2)
    print()
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="hosts_command", metavar="COMMAND", required=True)
    p = sub.add_parser("up", help="start N plain hosts and the DR sites (idempotent)")
    p.add_argument("--count", type=int, default=None, help="plain hosts (default 4 or $GOVCLOUD_LAB_HOSTS)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop every lab host; leaves no netns, mount, link or process")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="hosts with address, role, state, memory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("sync", help="one lab host per ACTIVE server of the lab cloud, at its fixed IP")
    p.set_defaults(func=cmd_sync)
    p = sub.add_parser("add", help="add a fresh host")
    p.add_argument("name")
    p.add_argument("--role", default="host")
    p.add_argument("--disk-mib", type=int, default=None)
    p.add_argument("--mlps-level", type=int, choices=(2, 3), default=None)
    p.set_defaults(func=cmd_add)
    p = sub.add_parser("remove", help="remove a host")
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)
    p = sub.add_parser("ssh", help="ssh into a host as root (optionally run a command)")
    p.add_argument("name")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_ssh)
    p = sub.add_parser("sites", help="DR sites: addresses, users, keys, CA (JSON)")
    p.set_defaults(func=cmd_sites)
    p = sub.add_parser("site-user", help="create (or show) the rest-server user of a tenant")
    p.add_argument("tenant")
    p.set_defaults(func=cmd_site_user)
