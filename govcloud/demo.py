"""`govcloud demo`: the main job, end to end, on the local lab.

Each step is the command an operator would type; the demo only strings them together, stops at the
first failure (naming the step and the command to re-run) and ends with a summary of the evidence.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from govcloud.errors import UserError
from govcloud.paths import REPO, state_dir

STACK = "lab"


def _govcloud(*args: str) -> list[str]:
    return [sys.executable, "-m", "govcloud", *args]


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, **kw)


def step(title: str, argv: list[str], results: list[dict]) -> None:
    print(f"\n==> {title}\n    $ {' '.join(a if a != sys.executable else 'python' for a in argv)}", flush=True)
    start = time.monotonic()
    proc = _run(argv)
    seconds = round(time.monotonic() - start, 1)
    results.append({"step": title, "seconds": seconds, "ok": proc.returncode == 0})
    if proc.returncode != 0:
        raise UserError(f"step '{title}' failed (exit {proc.returncode}); fix it and re-run "
                        f"`govcloud demo` (every step is idempotent)")
    print(f"    ok in {seconds} s", flush=True)


def on_host(host: str, command: str, timeout: int = 900) -> subprocess.CompletedProcess:
    from govcloud.lab import hosts

    return hosts.run(host, command, timeout=timeout, check=False)


def backup_steps(results: list[dict], evidence: Path) -> list[dict]:
    """One backup job per tenant with servers: deploy to its first server, back up, replicate, drill."""
    from govcloud.demo_backup import prepare_jobs

    jobs = prepare_jobs(evidence / "backup")
    drills = []
    for job in jobs:
        host = job["host"]
        step(f"backup agent on {host} ({job['tenant']})",
             _govcloud("backup", "deploy", "-c", job["config"], "-i", job["inventory"], "-l", job["inventory_host"],
                       "-e", "@" + job["extra"]), results)
        for action, command in job["commands"].items():
            title = f"{action} on {host}"
            print(f"\n==> {title}\n    $ ssh {host} {command}", flush=True)
            start = time.monotonic()
            proc = on_host(host, command)
            seconds = round(time.monotonic() - start, 1)
            results.append({"step": title, "ok": proc.returncode == 0, "seconds": seconds})
            if action == "drill":
                sites = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
                for s in sites:
                    print(f"    {s.get('site'):<10} ok={s.get('ok')} rpo_s={s.get('rpo_s')} rto_s={s.get('rto_s')}")
                drills.append({"host": host, "tenant": job["tenant"], "sites": sites, "exit": proc.returncode})
            if proc.returncode != 0:
                sys.stderr.write((proc.stdout or "")[-1500:] + (proc.stderr or "")[-1500:])
                raise UserError(f"{title} failed (exit {proc.returncode}); the output above says why")
            print(f"    ok in {seconds} s", flush=True)
    (evidence / "drills.json").write_text(json.dumps(drills, indent=2, ensure_ascii=False), encoding="utf-8")
    return drills


def cmd_demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # the steps' output interleaves in order
    evidence = Path(args.out or state_dir() / "evidence" / "demo")
    evidence.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    started = time.monotonic()
    step("start the lab (OpenStack in two regions, SSH hosts, DR sites)", _govcloud("lab", "up"), results)
    step("validate the department catalog", _govcloud("tenants", "validate"), results)
    step("pulumi up of the catalog on stack 'lab' with the MLPS policy pack", _govcloud("tenants", "up", "--stack", STACK),
         results)
    step("servers become SSH hosts", _govcloud("lab", "hosts", "sync"), results)
    step("inventory from the stack outputs", _govcloud("tenants", "inventory", "--stack", STACK), results)
    inventory = REPO / "inventories" / "lab" / "hosts.yml"
    step("harden the tenants' servers (MLPS level from the catalog)",
         _govcloud("harden", "-i", str(inventory), "--limit", "lab_servers", "--quiet"), results)
    step("audit in check mode: per-control evidence",
         _govcloud("audit", "-i", str(inventory), "--limit", "lab_servers", "--strict", "--out", str(evidence / "audit")),
         results)
    if not args.skip_backup:
        backup_steps(results, evidence)
    total = round(time.monotonic() - started, 1)
    summary = {"total_seconds": total, "steps": results, "evidence": str(evidence)}
    (evidence / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\ndemo done in {total} s. Evidence: {evidence}")
    for p in sorted(evidence.rglob("*")):
        if p.suffix in (".html", ".csv", ".json") and p.parent.name in ("audit", "demo", "backup"):
            print(f"  {p.relative_to(evidence)}")
    print("Stop the lab with: .venv/bin/govcloud lab down")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="evidence directory (default .govcloud/evidence/demo)")
    parser.add_argument("--skip-backup", action="store_true", help="stop after the audit")
    parser.set_defaults(func=cmd_demo)
