"""`govcloud policy list|report`: the MLPS cloud policies and their results per tenant and MLPS item.

`report` runs the real pack (`pulumi preview --policy-pack policies --event-log ...` on a stack) and parses
its policy events, or with `--offline` (the default without --stack) runs the catalog checks only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from govcloud.errors import UserError
from govcloud.paths import REPO

PACK_DIR = REPO / "policies"
_TEXT_RE = re.compile(r"^(?P<waived>WAIVED )?\[(?P<policy>[a-z0-9-]+)\] tenant (?P<tenant>\S+), resource "
                      r"(?P<resource>\S+): (?P<message>.*)$", re.M)


def _registry() -> dict[str, dict]:
    from policies import engine

    return engine.registry()


def cmd_list(args) -> int:
    rows = [{"id": pid, "title": p["title"], "mlps": p["mlps"], "severity": p["severity"],
             "enforcement": p["enforcement"], "scope": p["scope"], "catalog": bool(p.get("catalog")),
             "description": p["description"], "remediation": p["remediation"]}
            for pid, p in _registry().items()]
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    print(f"{'id':<34} {'severity':<9} {'enforcement':<11} {'scope':<8} MLPS reference")
    for r in rows:
        print(f"{r['id']:<34} {r['severity']:<9} {r['enforcement']:<11} {r['scope']:<8} {r['mlps'][0]}")
        for ref in r["mlps"][1:]:
            print(f"{'':<66}{ref}")
    return 0


# ---------------------------------------------------------------- running the pack

def pulumi_env() -> dict:
    """Environment for Pulumi runs (from govcloud.toolchain when present)."""
    try:
        from govcloud import toolchain  # type: ignore

        return dict(toolchain.pulumi_env())
    except (ImportError, AttributeError):
        from govcloud.paths import state_dir, venv_bin

        env = dict(os.environ)
        env.setdefault("PULUMI_BACKEND_URL", f"file://{state_dir() / 'pulumi-state'}")
        env.setdefault("PULUMI_CONFIG_PASSPHRASE_FILE", str(state_dir() / "pulumi-passphrase"))
        env.setdefault("PULUMI_HOME", str(state_dir() / "pulumi-home"))
        env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
        env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
        env["PATH"] = f"{venv_bin()}:{env.get('PATH', '')}"
        return env


def pulumi_argv() -> list[str]:
    try:
        from govcloud import toolchain  # type: ignore

        return list(toolchain.pulumi_argv())
    except (ImportError, AttributeError):
        from govcloud.paths import venv_bin

        return [str(venv_bin() / "pulumi")]


def parse_events(lines) -> list[dict]:
    """Policy events of a Pulumi event log as dicts: policy, enforcement, urn, tenant, resource, message,
    status (violation | waived | expired-waiver)."""
    out = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        pe = ev.get("policyEvent")
        if not pe:
            continue
        name = pe.get("policyName", "")
        msg = pe.get("message", "")
        m = _TEXT_RE.search(msg)
        status = "violation"
        if name.endswith("-waived") or (m and m.group("waived")):
            status = "waived"
        elif "EXPIRED on" in msg:
            status = "expired-waiver"
        out.append({
            "policy": m.group("policy") if m else name.removesuffix("-waived"),
            "policy_name": name,
            "enforcement": str(pe.get("enforcementLevel", "")).lower(),
            "urn": pe.get("resourceUrn", ""),
            "tenant": m.group("tenant") if m else None,
            "resource": m.group("resource") if m else None,
            "message": m.group("message") if m else msg.strip(),
            "status": status,
        })
    return out


def run_preview(workdir: Path, stack: str, policy_pack: Path = PACK_DIR, extra: list[str] | None = None,
                env: dict | None = None, timeout: int = 900, command: str = "preview") -> dict:
    """`pulumi preview|up --policy-pack ... --json` in workdir (engine events streamed as JSON lines);
    returns {"rc", "events" (policy events, see parse_events), "output"}. `up` keeps its preview, so a
    mandatory violation stops it before any resource is created."""
    env = dict(env or pulumi_env())
    env["PULUMI_ENABLE_STREAMING_JSON_PREVIEW"] = "true"
    argv = [*pulumi_argv(), command, "--stack", stack, "--non-interactive", "--policy-pack", str(policy_pack),
            "--json", *(["--yes"] if command == "up" else []), *(extra or [])]
    try:
        proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise UserError(f"{argv[0]}: Pulumi CLI not found; run `govcloud setup` first") from exc
    lines = proc.stdout.splitlines()
    return {"rc": proc.returncode, "events": parse_events(lines), "passed": passed_policies(lines),
            "output": proc.stdout + proc.stderr}


def passed_policies(lines) -> set[str]:
    """Policy names the engine reports as passed (policyAnalyze*SummaryEvent), i.e. the pack really ran."""
    out: set[str] = set()
    for line in lines:
        if "SummaryEvent" not in line:
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        for key, val in ev.items():
            if key.startswith("policyAnalyze") and isinstance(val, dict):
                out.update(val.get("passed") or [])
    return out


# ---------------------------------------------------------------- report

def _offline(catalog_dir: str | None) -> list[dict]:
    from policies import catalog_checks, engine

    cfg = engine.load_config({"catalogDir": catalog_dir} if catalog_dir else None)
    tenants = engine.load_catalog(engine._path(cfg["catalogDir"]))
    return [{**f.as_dict(), "message": f.message} for f in catalog_checks.findings(tenants, cfg)]


def summarize(results: list[dict], tenants: list[str]) -> dict:
    reg = _registry()
    per_tenant: dict[str, dict] = {}
    for tid in tenants:
        per_tenant[tid] = {pid: {"status": "pass", "mlps": reg[pid]["mlps"], "findings": []} for pid in reg}
    for r in results:
        tid = r.get("tenant") or "(stack)"
        pid = r.get("policy")
        if pid not in reg:
            continue
        entry = per_tenant.setdefault(tid, {p: {"status": "pass", "mlps": reg[p]["mlps"], "findings": []}
                                            for p in reg})[pid]
        entry["findings"].append(r)
        rank = {"pass": 0, "waived": 1, "violation": 2, "expired-waiver": 2}
        status = "fail" if r["status"] in ("violation", "expired-waiver") else "waived"
        if rank.get(status, 2) >= rank.get(entry["status"], 0):
            entry["status"] = status
    return per_tenant


def cmd_report(args) -> int:
    from policies import engine

    tenants = sorted(t["id"] for t in engine.load_catalog(engine._path(args.catalog or "infra/tenants")))
    if args.stack and not args.offline:
        res = run_preview(Path(args.workdir), args.stack)
        results = res["events"]
        mode = f"pulumi preview --policy-pack policies (stack {args.stack}, exit {res['rc']})"
        if res["rc"] != 0 and not results:
            raise UserError(f"stack {args.stack}: preview failed before any policy ran:\n"
                            + "\n".join(res["output"].splitlines()[-15:]))
    else:
        results = _offline(args.catalog)
        mode = "catalog checks (offline)"
    summary = summarize(results, tenants)
    blocking = [r for r in results if r["status"] in ("violation", "expired-waiver")]
    if args.json:
        json.dump({"mode": mode, "results": results, "tenants": summary, "blocking": len(blocking)},
                  sys.stdout, ensure_ascii=False, indent=2, default=str)
        print()
    else:
        print(f"MLPS policy report: {mode}")
        print(f"{'tenant':<10} {'policy':<34} {'status':<8} MLPS")
        for tid, pols in sorted(summary.items()):
            for pid, e in pols.items():
                print(f"{tid:<10} {pid:<34} {e['status']:<8} {e['mlps'][0]}")
                for f in e["findings"]:
                    print(f"{'':<12}- {f.get('resource') or ''}: {f['message']}")
        counts: dict[str, int] = defaultdict(int)
        for r in results:
            counts[r["status"]] += 1
        print(f"{len(blocking)} blocking, {counts['waived']} waived")
    return 1 if blocking else 0


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action")
    p = sub.add_parser("list", help="every policy with its MLPS reference, severity and enforcement")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("report", help="results per tenant and MLPS item (pack on a stack, or catalog checks)")
    p.add_argument("--stack", help="run the pack in `pulumi preview` on this stack (e.g. lab)")
    p.add_argument("--offline", action="store_true", help="catalog checks only (default without --stack)")
    p.add_argument("--catalog", help="catalog directory (default infra/tenants)")
    p.add_argument("--workdir", default=str(REPO), help="Pulumi project directory (default the repo)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)


def main_for_test(argv: list[str]) -> int:
    """Parse and run `govcloud policy ARGV` (used by tests and the dispatcher-free callers)."""
    parser = argparse.ArgumentParser(prog="govcloud policy")
    register(parser)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
