"""`backup replicate`: asynchronous `restic copy` from the primary to each remote site, with retries and
exponential backoff. `restic copy` skips snapshots already present, so an interrupted replication resumes
where it stopped. Reports per site the lag (age of the newest snapshot there) and what is still missing."""

from __future__ import annotations

import time

from backup.config import Job
from backup.engine import job_lock, restic_for, write_json
from backup.errors import SiteError
from backup.log import event
from backup.run import copy_to, present_originals
from backup.sites import Target, target


def newest_age(snaps: list[dict], now: float | None = None) -> float | None:
    from backup.drill import parse_time
    times = [parse_time(s["time"]) for s in snaps]
    if not times:
        return None
    return round((now or time.time()) - max(times), 1)


def lag(r, job: Job, primary_have: dict, t: Target) -> dict:
    have = present_originals(r, t, job)
    missing = sorted(set(primary_have) - set(have))
    return {"lag_s": newest_age(list(have.values())), "snapshots": len(have), "missing": len(missing)}


def replicate(job: Job, sites: list[str] | None = None, attempts: int | None = None,
              backoff_s: float | None = None, sleep=time.sleep) -> dict:
    cfg = job.section("replicate")
    attempts = attempts or cfg["attempts"]
    backoff = cfg["backoff_s"] if backoff_s is None else backoff_s
    r = restic_for(job)
    primary = target(job, job.primary)
    remotes = [target(job, s) for s in job.sites if s["role"] == "async" and (not sites or s["name"] in sites)]
    out = {"job": job.name, "ok": True, "sites": {}}
    with job_lock(job, "replicate", wait_s=60):
        primary_have = present_originals(r, primary, job)
        for t in remotes:
            rec = {"site": t.name, "ok": False, "attempts": 0}
            delay = backoff
            for i in range(1, attempts + 1):
                rec["attempts"] = i
                try:
                    copy_to(r, job, primary, t)
                    rec["ok"] = True
                    rec.pop("error", None)
                    break
                except SiteError as exc:
                    rec["error"] = str(exc)
                    rec["kind"] = exc.kind
                    event("replicate_retry", site=t.name, attempt=i, of=attempts, error=str(exc))
                    if exc.kind in ("wrong_password", "no_repository", "auth") or i == attempts:
                        break
                    sleep(min(delay, cfg["backoff_max_s"]))
                    delay *= 2
            try:
                rec.update(lag(r, job, primary_have, t))
            except SiteError as exc:
                rec.update({"lag_s": None, "lag_error": str(exc)})
            if rec["ok"] and rec.get("missing"):
                rec["ok"] = False
                rec["error"] = f"{rec['missing']} snapshot(s) still missing after copy"
            out["sites"][t.name] = rec
            out["ok"] = out["ok"] and rec["ok"]
            event("replicated" if rec["ok"] else "replicate_failed", site=t.name, lag_s=rec.get("lag_s"),
                  missing=rec.get("missing"), error=rec.get("error"))
    write_json(job.state_dir / "last-replicate.json", out)
    return out
