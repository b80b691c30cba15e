"""ansible-runner wrapper for the hardening and audit playbooks: inventory and waiver resolution, live
per-host progress (a line per task result on a TTY; failures only otherwise) and a structured result."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from govcloud import waivers as waiver_model
from govcloud.errors import UserError
from govcloud.hardening import catalog
from govcloud.paths import REPO, venv_bin

PLAYBOOKS = REPO / "playbooks"
ANSIBLE_CFG = REPO / "ansible.cfg"
REPORT_TASK = "Probe | report"


def default_inventory() -> Path:
    lab = REPO / "inventories" / "lab" / "hosts.yml"
    if lab.exists():
        return lab
    raise UserError("no inventory given and inventories/lab/hosts.yml does not exist; pass -i INVENTORY "
                    "(see inventories/examples/production.yml) or start the lab with `govcloud lab up`")


def _env() -> dict[str, str]:
    env = {"ANSIBLE_CONFIG": str(ANSIBLE_CFG), "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_LOCAL_TEMP": str(Path(tempfile.gettempdir()) / "govcloud-ansible-local")}
    return env


def inventory_hosts(inventory: str | Path) -> dict[str, dict]:
    """{host: {"vars": hostvars, "groups": [group, ...]}} from `ansible-inventory --list`."""
    path = Path(inventory)
    if not path.exists():
        raise UserError(f"{path}: inventory not found")
    exe = Path(venv_bin()) / "ansible-inventory"
    proc = subprocess.run([str(exe if exe.exists() else "ansible-inventory"), "-i", str(path), "--list"],
                          capture_output=True, text=True, env={**os.environ, **_env()}, timeout=120)
    if proc.returncode != 0:
        raise UserError(f"{path}: ansible-inventory failed: {proc.stderr.strip()[-500:]}")
    data = json.loads(proc.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    groups: dict[str, list[str]] = defaultdict(list)

    def walk(group: str, seen: tuple = ()) -> None:
        node = data.get(group, {})
        for h in node.get("hosts", []):
            groups[h].extend(g for g in (*seen, group) if g != "all")
        for child in node.get("children", []):
            walk(child, (*seen, group))

    walk("all")
    for h in hostvars:
        groups.setdefault(h, [])
    return {h: {"vars": hostvars.get(h, {}), "groups": sorted(set(groups[h]))} for h in sorted(groups)}


def select_hosts(hosts: dict[str, dict], limit: str | None) -> dict[str, dict]:
    if not limit:
        return hosts
    import fnmatch

    pats = [p.strip() for p in limit.replace(":", ",").split(",") if p.strip()]
    out = {h: v for h, v in hosts.items()
           if any(fnmatch.fnmatchcase(h, p) or p in v["groups"] for p in pats)}
    if not out:
        raise UserError(f"--limit {limit!r} matches no host of the inventory ({', '.join(hosts) or 'empty'})")
    return out


def tenant_of(host: str, info: dict) -> str:
    v = info.get("vars", {})
    return str(v.get("tenant") or v.get("mlps_tenant") or "-")


def waiver_names(host: str, info: dict) -> list[str]:
    tenant = tenant_of(host, info)
    names = [host, *info.get("groups", [])]
    if tenant != "-":
        names += [tenant, f"{tenant}/{host}", f"dept-{tenant}", f"dept-{tenant}/{host}"]
    return names


def resolve_waivers(hosts: dict[str, dict], waivers: list, today: dt.date | None = None) -> dict[str, dict]:
    """{host: {control key: {"active": Waiver|None, "expired": Waiver|None}}} for controls with a waiver."""
    out: dict[str, dict] = {}
    for host, info in hosts.items():
        names = waiver_names(host, info)
        for c in catalog.controls():
            found = {}
            for ident in {c["id"], c.get("l2_id")} - {None}:
                active, expired = waiver_model.find(waivers, ident, names, today)
                found["active"] = found.get("active") or active
                found["expired"] = found.get("expired") or expired
            if found.get("active") or found.get("expired"):
                out.setdefault(host, {})[c["id"]] = found
    return out


def active_waived(resolved: dict[str, dict]) -> dict[str, list[str]]:
    return {h: sorted(k for k, v in ctl.items() if v.get("active")) for h, ctl in resolved.items()}


@dataclass
class RunResult:
    rc: int
    status: str
    seconds: float
    stats: dict = field(default_factory=dict)        # {host: {ok, changed, failed, unreachable, skipped}}
    reports: dict = field(default_factory=dict)      # {host: probe report} (audit)
    failures: list = field(default_factory=list)     # [{host, task, msg}]
    changed: dict = field(default_factory=dict)      # {host: [task names that changed / would change]}
    changed_paths: dict = field(default_factory=dict)  # {host: ["roles/<role>/tasks/<file>.yml", ...]}
    stdout_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.failures


class Progress:
    """Event handler: live per-host progress on a TTY, failures only when not a TTY (or quiet)."""

    def __init__(self, stream=None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.result = RunResult(rc=-1, status="", seconds=0.0)
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {}) or {}
        host = data.get("host") or data.get("remote_addr")
        task = data.get("task", "")
        res = data.get("res", {}) or {}
        if kind == "runner_on_ok":
            self.counts[host]["ok"] += 1
            if task == REPORT_TASK and isinstance(res.get("msg"), dict):
                self.result.reports[host] = res["msg"]
            if res.get("changed"):
                self.counts[host]["changed"] += 1
                self.result.changed.setdefault(host, []).append(task)
                path = str(data.get("task_path") or "").rsplit(":", 1)[0]
                if "/roles/" in path:
                    self.result.changed_paths.setdefault(host, []).append("roles/" + path.split("/roles/", 1)[1])
                if self.live:
                    self._say(f"  {host:<16} changed  {task}")
            elif self.live:
                self._say(f"  {host:<16} ok       {task}")
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                return True
            msg = res.get("msg") or res.get("stderr") or res.get("stdout") or ""
            self.result.failures.append({"host": host, "task": task, "msg": str(msg)[:1500],
                                         "unreachable": kind == "runner_on_unreachable"})
            self._say(f"  {host:<16} FAILED   {task}: {str(msg)[:400]}")
        elif kind == "runner_on_skipped" and self.live:
            self.counts[host]["skipped"] += 1
        elif kind == "playbook_on_play_start" and self.live:
            self._say(f"play: {data.get('play', '')}")
        elif kind == "playbook_on_stats":
            stats: dict[str, dict[str, int]] = defaultdict(dict)
            for key, name in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"),
                              ("dark", "unreachable"), ("skipped", "skipped"), ("rescued", "rescued")):
                for h, n in (data.get(key) or {}).items():
                    stats[h][name] = n
            for h in stats:
                for name in ("ok", "changed", "failed", "unreachable", "skipped"):
                    stats[h].setdefault(name, 0)
            self.result.stats = dict(stats)
        return True


def run_playbook(playbook: str, inventory: str | Path, *, limit: str | None = None, extravars: dict | None = None,
                 tags: list[str] | None = None, check: bool = False, live: bool | None = None,
                 stream=None, force_handlers: bool = True, env: dict | None = None) -> RunResult:
    import ansible_runner

    progress = Progress(stream=stream, live=live)
    cmdline = ["--force-handlers"] if force_handlers else []
    if check:
        cmdline.append("--check")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="govcloud-runner-") as pdd:
        kwargs = dict(private_data_dir=pdd, playbook=str(PLAYBOOKS / playbook), inventory=str(Path(inventory).resolve()),
                      extravars=extravars or {}, quiet=True, event_handler=progress,
                      envvars={**_env(), **(env or {})}, cmdline=" ".join(cmdline) or None, suppress_env_files=True)
        if limit:
            kwargs["limit"] = limit
        if tags:
            kwargs["tags"] = ",".join(tags + ["always"])
        r = ansible_runner.run(**kwargs)
        tail = ""
        try:
            tail = r.stdout.read()[-4000:]
        except Exception:  # noqa: BLE001 - stdout is best effort
            pass
    res = progress.result
    res.rc = int(r.rc if r.rc is not None else 1)
    res.status = r.status
    res.seconds = round(time.monotonic() - start, 1)
    res.stdout_tail = tail
    return res
