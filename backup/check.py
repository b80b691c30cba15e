"""`backup check`: `restic check --read-data-subset n/N` per site, n rotating 1..N across runs (kept in the
state dir), so N checks together read every pack. A failing site is named in the result and the exit code."""

from __future__ import annotations

import time

from backup.config import Job
from backup.engine import job_lock, read_json, restic_for, write_json
from backup.errors import SiteError
from backup.log import event
from backup.sites import target


def check(job: Job, sites: list[str] | None = None, subset: str | None = None, full: bool = False) -> dict:
    n_total = job.section("check")["read_data_subsets"]
    state_file = job.state_dir / "check-rotation.json"
    rotation = read_json(state_file, {}) or {}
    r = restic_for(job)
    out = {"job": job.name, "ok": True, "sites": {}}
    chosen = [s for s in job.sites if not sites or s["name"] in sites]
    with job_lock(job, "check", wait_s=600):
        for s in chosen:
            t = target(job, s)
            n = int(rotation.get(s["name"], 0)) % n_total + 1
            args = ["check"]
            if full:
                args.append("--read-data")
                part = "all"
            else:
                part = subset or f"{n}/{n_total}"
                args += ["--read-data-subset", part]
            start = time.monotonic()
            rec = {"site": s["name"], "subset": part}
            try:
                # clears only stale locks (e.g. from a killed backup) so check can take its exclusive lock
                r.run(t, ["unlock"], json_out=False, check=False, retry_lock=False, timeout=120)
                r.run(t, args, json_out=False, timeout=max(t.timeout_s, 3600))
                rec["ok"] = True
                if not subset and not full:
                    rotation[s["name"]] = n
            except SiteError as exc:
                rec.update({"ok": False, "error": str(exc), "kind": exc.kind})
                out["ok"] = False
            rec["seconds"] = round(time.monotonic() - start, 2)
            out["sites"][s["name"]] = rec
            event("checked" if rec["ok"] else "check_failed", site=s["name"], subset=part, error=rec.get("error"))
    write_json(state_file, rotation)
    out["failed_sites"] = [n for n, v in out["sites"].items() if not v["ok"]]
    write_json(job.state_dir / "last-check.json", out)
    return out
