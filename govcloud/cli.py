"""The one operator command. Each subcommand lives in its own module and is imported only when used,
so `govcloud backup ...` does not pay for Pulumi or Ansible imports."""

from __future__ import annotations

import argparse
import importlib
import sys

from govcloud.errors import UserError

# name -> (module that provides register(parser), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "setup": ("govcloud.toolchain.cli", "install the toolchain (Pulumi CLI, language host, provider, restic, rest-server)"),
    "doctor": ("govcloud.doctor", "check tools, versions, plugins, state backend and lab; say how to fix what is missing"),
    "lab": ("govcloud.lab.cli", "the local two-region OpenStack lab, its SSH hosts, DR sites and faults"),
    "tenants": ("govcloud.tenants", "validate the department catalog, report drift, write inventories from the stack"),
    "policy": ("govcloud.policy", "list the MLPS cloud policies and report results per tenant"),
    "harden": ("govcloud.hardening.cli", "harden hosts to MLPS 2.0 level 2/3 with ansible-runner"),
    "audit": ("govcloud.hardening.audit_cli", "audit hosts in check mode and write per-control evidence"),
    "backup": ("backup.cli", "back up, replicate, check and validate DR copies with restic"),
    "drill": ("backup.drill_cli", "restore drills that measure RPO and RTO per site"),
    "demo": ("govcloud.demo", "the main job on the local lab: lab up, pulumi up, harden, audit, backup, drill"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="govcloud",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Provision, guard, harden and back up the city's government cloud tenants.",
        epilog=f"commands:\n{lines}\n\nRun `govcloud COMMAND --help` for a command's options.",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        parser.add_argument("command", nargs="?", choices=sorted(COMMANDS))
        if argv and argv[0] in ("-h", "--help"):
            parser.print_help()
            return 0
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}")
        parser.print_help()
        return 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"govcloud {name}", description=COMMANDS[name][1])
    module.register(parser)
    args = parser.parse_args(argv[1:])
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except UserError as exc:
        print(f"govcloud {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
