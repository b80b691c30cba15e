"""`govcloud lab ...`: one front for the OpenStack control plane and the SSH hosts / DR sites.

`lab up` starts the OpenStack part first, then the hosts; `down` stops them in the reverse order.
"""

from __future__ import annotations

import argparse
import json
import sys

PARTS = ("openstack", "hosts")


def _openstack():
    from govcloud.lab import openstack

    return openstack


def _hosts():
    from govcloud.lab import hosts

    return hosts


def _parts(only: str | None) -> tuple[str, ...]:
    return (only,) if only else PARTS


def cmd_up(args: argparse.Namespace) -> int:
    parts = _parts(args.only)
    if "openstack" in parts:
        _openstack().up()
    if "hosts" in parts:
        _hosts().up(count=args.hosts)
    print("lab ready: `govcloud lab status` shows clouds, services, hosts and logs")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    parts = _parts(args.only)
    if "hosts" in parts:
        _hosts().down()
    if "openstack" in parts:
        _openstack().down()
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    _hosts().down()
    _openstack().reset()
    return 0


def status() -> dict:
    """The OpenStack status keys at the top level (clouds_yaml, clouds, regions, services, ...),
    the hosts' status under "hosts"."""
    out = dict(_openstack().status())
    out["hosts"] = _hosts().status()
    return out


def cmd_status(args: argparse.Namespace) -> int:
    st = status()
    if args.json:
        json.dump(st, sys.stdout, indent=2, ensure_ascii=False, default=str)
        print()
        return 0
    services = st.get("services", {})
    down = sorted(n for n, v in services.items() if v != "up")
    print(f"openstack: {st.get('state', '?')}  services up {len(services) - len(down)}/{len(services)}"
          + (f"  down: {', '.join(down)}" if down else ""))
    if st.get("clouds_yaml"):
        print(f"  clouds.yaml {st['clouds_yaml']}  clouds {', '.join(st.get('clouds', []))}"
              f"  regions {', '.join(st.get('regions', []))}")
    if st.get("memory_mib") is not None:
        print(f"  memory {st['memory_mib']} MiB PSS")
    if st.get("logs"):
        print(f"  logs {st['logs']}")
    hosts = st.get("hosts") or {}
    print(f"hosts: {hosts.get('state', '?')}")
    for h in hosts.get("hosts", []):
        print(f"  {h.get('name'):<24} {h.get('address', ''):<16} {h.get('role', ''):<10} "
              f"{h.get('state', '')} {h.get('memory_mib', '')} MiB")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lab_command", metavar="{up,down,status,reset,hosts,fault}")
    p = sub.add_parser("up", help="start the lab (idempotent); returns when it is usable")
    p.add_argument("--only", choices=PARTS, help="start only this part")
    p.add_argument("--hosts", type=int, default=None, help="number of plain lab hosts (default from config)")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop everything the lab started (idempotent)")
    p.add_argument("--only", choices=PARTS)
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="clouds, regions, services, hosts, memory and logs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("reset", help="stop everything and wipe lab data (databases, volumes, hosts)")
    p.set_defaults(func=cmd_reset)
    from govcloud.lab.hosts import cli as hosts_cli

    hosts_cli.register(sub.add_parser("hosts", help="SSH lab hosts and DR sites: up, down, status, sync, add, remove"))
    from govcloud.lab import faults

    faults.register(sub.add_parser("fault", help="inject faults: link cut/restore, bandwidth, loss, stop/start, disk full, kill"))
