"""`govcloud tenants`: validate the department catalog, preview/up/destroy the tenant stack, report drift,
write the Ansible inventory from the stack outputs.

  govcloud tenants validate [--catalog DIR] [--json]     every problem at once; exit 1 when invalid
  govcloud tenants preview|up|destroy [--stack lab]      thin wrappers over the pinned Pulumi CLI
  govcloud tenants drift [--stack lab]                   exit 0 no drift, 1 drift, 2 could not refresh
  govcloud tenants inventory [--stack lab]               inventories/stacks/<stack>.yml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from govcloud import paths
from govcloud.errors import UserError

DEFAULT_STACK = "lab"


# ------------------------------------------------------------------------------------------- pulumi

def _toolchain():
    try:
        from govcloud import toolchain
    except ImportError as exc:  # pragma: no cover - only without the toolchain package
        raise UserError("the Pulumi toolchain is not installed; run `govcloud setup`") from exc
    argv = toolchain.pulumi_argv()
    if not Path(argv[0]).exists():
        raise UserError(f"{argv[0]}: Pulumi CLI not found; run `govcloud setup`")
    return toolchain


def pulumi_env(extra: dict | None = None) -> dict:
    env = _toolchain().pulumi_env()
    env.update(extra or {})
    return env


def pulumi(args: list[str], stack: str, *, env: dict | None = None, check: bool = False, capture: bool = True,
           timeout: float | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the pinned Pulumi CLI on the project at the repo root (or `cwd`)."""
    tc = _toolchain()
    cmd = [*tc.pulumi_argv(), *args, "--stack", stack, "--non-interactive"]
    proc = subprocess.run(cmd, cwd=str(cwd or paths.REPO), env=env or pulumi_env(), text=True,
                          capture_output=capture, timeout=timeout)
    if check and proc.returncode != 0:
        detail = (proc.stderr or "")[-3000:] + (proc.stdout or "")[-3000:] if capture else ""
        raise UserError(f"pulumi {' '.join(args)} --stack {stack} failed (exit {proc.returncode}):\n{detail}")
    return proc


def ensure_stack(stack: str, *, env: dict | None = None, cwd: Path | None = None) -> None:
    """Select the stack, creating it in the backend when it does not exist yet."""
    tc = _toolchain()
    proc = subprocess.run([*tc.pulumi_argv(), "stack", "select", "--create", stack, "--non-interactive"],
                          cwd=str(cwd or paths.REPO), env=env or pulumi_env(), text=True, capture_output=True)
    if proc.returncode != 0:
        raise UserError(f"pulumi stack select --create {stack} failed: {proc.stderr.strip()[-2000:]}")


def lab_env() -> dict:
    """On the lab: point the OpenStack clients at the lab's clouds.yaml (when the stack config does not)."""
    extra = {}
    try:
        from govcloud.lab.openstack import layout

        clouds = layout.dirs().clouds_yaml
        if clouds.is_file() and "OS_CLIENT_CONFIG_FILE" not in os.environ:
            extra["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    except ImportError:
        pass
    return extra


# ------------------------------------------------------------------------------------------ validate

def cmd_validate(args) -> int:
    from infra import catalog

    problems = catalog.validate(args.catalog, policies=not args.no_policies)
    if args.json:
        print(json.dumps({"valid": not problems, "problems": [p.as_dict() for p in problems]},
                         ensure_ascii=False, indent=2))
    else:
        for p in problems:
            print(str(p))
        if problems:
            print(f"{len(problems)} problem(s) in {args.catalog}; `pulumi up` refuses to run until they are fixed",
                  file=sys.stderr)
        else:
            cat = catalog.load(args.catalog, check=False)
            servers = sum(s["count"] for t in cat.tenants for s in t["servers"])
            print(f"catalog OK: {len(cat.tenants)} tenants, {servers} servers ({args.catalog})")
    return 1 if problems else 0


# ------------------------------------------------------------------------------ preview / up / destroy

def run_stack_command(verb: str, stack: str, extra: list[str] | None = None, *, env: dict | None = None,
                      cwd: Path | None = None, capture: bool = False,
                      timeout: float | None = None) -> subprocess.CompletedProcess:
    env = env or pulumi_env(lab_env())
    ensure_stack(stack, env=env, cwd=cwd)
    args = [verb]
    if verb in ("up", "destroy"):
        args += ["--yes", "--skip-preview"]
    return pulumi(args + list(extra or []), stack, env=env, capture=capture, cwd=cwd, timeout=timeout)


def cmd_stack(args) -> int:
    if args.verb in ("preview", "up"):
        from infra import catalog

        problems = catalog.validate(args.catalog)
        if problems:
            for p in problems:
                print(str(p), file=sys.stderr)
            raise UserError(f"catalog {args.catalog} has {len(problems)} problem(s); run `govcloud tenants validate`")
    extra = ["--diff"] if args.verb == "preview" and args.diff else []
    if args.verb in ("preview", "up") and not args.no_policies:
        # the MLPS guardrails check every preview and up (policies/)
        extra += ["--policy-pack", str(paths.REPO / "policies")]
    if args.verb == "up":
        extra.append("--suppress-outputs")  # hosts and backup targets: `pulumi stack output` or `tenants inventory`
    return run_stack_command(args.verb, args.stack, extra).returncode


# ---------------------------------------------------------------------------------------------- drift

def tenant_of_urn(urn: str, ids: set[str]) -> str:
    """The tenant a resource URN belongs to: the component in its type chain, else its name prefix."""
    name = urn.split("::")[-1]
    types = urn.split("::")[-2] if urn.count("::") >= 3 else ""
    best = ""
    for tid in ids:
        if (name == tid or name.startswith(tid + "-")) and len(tid) > len(best):
            best = tid
    if best:
        return best
    if "govcloud:tenants:Tenant" in types or (not ids and "-" in name):
        return name.split("-")[0]
    return "(stack)"


def summarize_steps(steps: list[dict], ids: set[str]) -> dict[str, list[dict]]:
    per: dict[str, list[dict]] = defaultdict(list)
    for s in steps:
        op = s.get("op")
        if op in (None, "same", "read", "refresh"):
            continue
        urn = s.get("urn", "")
        rtype = urn.split("::")[-2].split("$")[-1] if urn.count("::") >= 3 else ""
        if rtype.startswith("pulumi:providers:") and op == "update":
            # provider configuration (e.g. a rotated lab password) is not drift of the cloud
            continue
        per[tenant_of_urn(urn, ids)].append({"op": op, "urn": urn, "type": rtype, "name": urn.split("::")[-1],
                                             "diffs": list(s.get("diffReasons") or s.get("detailedDiff") or [])})
    return dict(per)


def drift(stack: str, *, env: dict | None = None, cwd: Path | None = None, catalog_dir: str | None = None,
          timeout: float = 900) -> tuple[int, dict]:
    """(exit code, {tenant: [changes]}): 0 no drift, 1 drift, 2 refresh failed.

    `pulumi preview --refresh --json` refreshes the state from the cloud in memory (nothing is written)
    and plans what an `up` would do: every planned step is a difference between the cloud and the
    catalog, e.g. a deleted SG rule (create) or a renamed network (update)."""
    from infra import catalog

    env = env or pulumi_env(lab_env())
    proc = pulumi(["preview", "--refresh", "--json", "--suppress-progress"], stack, env=env, cwd=cwd,
                  timeout=timeout)
    try:
        data = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        data = None
    if proc.returncode != 0 or not isinstance(data, dict):
        msg = (proc.stderr or "")[-2000:] or (proc.stdout or "")[-2000:]
        return 2, {"error": msg.strip()}
    try:
        ids = {t["id"] for t in catalog.load(catalog_dir or paths.REPO / "infra" / "tenants", check=False).tenants}
    except Exception:  # noqa: BLE001 - ids only improve attribution
        ids = set()
    per = summarize_steps(data.get("steps") or [], ids)
    return (1 if per else 0), per


def cmd_drift(args) -> int:
    code, per = drift(args.stack, catalog_dir=args.catalog)
    if args.json:
        print(json.dumps({"stack": args.stack, "exit": code, "drift": per}, ensure_ascii=False, indent=2))
        return code
    if code == 2:
        print(f"could not refresh stack {args.stack}: {per.get('error')}", file=sys.stderr)
        return 2
    if not per:
        print(f"stack {args.stack}: no drift")
        return 0
    for tid, changes in sorted(per.items()):
        print(f"{tid}: {len(changes)} change(s)")
        for c in changes:
            why = f" ({', '.join(c['diffs'])})" if c["diffs"] else ""
            print(f"  {c['op']:<8} {c['type']} {c['name']}{why}")
    print(f"drift in {len(per)} tenant(s); `govcloud tenants up --stack {args.stack}` restores the catalog state",
          file=sys.stderr)
    return 1


# ------------------------------------------------------------------------------------------ inventory

def stack_outputs(stack: str, *, env: dict | None = None, cwd: Path | None = None) -> dict:
    proc = pulumi(["stack", "output", "--json"], stack, env=env or pulumi_env(), cwd=cwd)
    if proc.returncode != 0:
        raise UserError(f"stack {stack}: cannot read outputs ({proc.stderr.strip()[-500:]}); "
                        f"run `govcloud tenants up --stack {stack}` first")
    return json.loads(proc.stdout or "{}")


def cmd_inventory(args) -> int:
    from govcloud import stack_inventory

    outputs = stack_outputs(args.stack)
    path = stack_inventory.write(outputs, args.stack, Path(args.output) if args.output else None)
    hosts = sum(len(t.get("hosts") or []) for t in (outputs.get("tenants") or {}).values())
    print(f"wrote {path} ({len(outputs.get('tenants') or {})} tenants, {hosts} hosts)")
    return 0


# ------------------------------------------------------------------------------------------- register

def register(parser: argparse.ArgumentParser) -> None:
    default_catalog = str(paths.REPO / "infra" / "tenants")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p = sub.add_parser("validate", help="check the catalog: every problem with file, line, field and what to do")
    p.add_argument("--catalog", default=default_catalog, help="catalog directory (default infra/tenants)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-policies", action="store_true", help="skip the MLPS policy checks of policies/")
    p.set_defaults(func=cmd_validate)
    for verb, text in (("preview", "validate, then `pulumi preview` the stack"),
                       ("up", "validate, then `pulumi up --yes` the stack"),
                       ("destroy", "`pulumi destroy --yes` the stack")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("--stack", default=DEFAULT_STACK)
        p.add_argument("--catalog", default=default_catalog)
        if verb == "preview":
            p.add_argument("--diff", action="store_true")
        if verb in ("preview", "up"):
            p.add_argument("--no-policies", action="store_true", help="do not run the MLPS policy pack (policies/)")
        p.set_defaults(func=cmd_stack, verb=verb)
    p = sub.add_parser("drift", help="compare the cloud with the stack; exit 1 on drift, 2 if it cannot refresh")
    p.add_argument("--stack", default=DEFAULT_STACK)
    p.add_argument("--catalog", default=default_catalog)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_drift)
    p = sub.add_parser("inventory", help="write inventories/stacks/<stack>.yml from the stack outputs")
    p.add_argument("--stack", default=DEFAULT_STACK)
    p.add_argument("--output", help="file to write (default inventories/stacks/<stack>.yml)")
    p.set_defaults(func=cmd_inventory)
