"""Retention: `restic forget --prune` only on trusted sites (primary and the same-city site). Never against an
append-only remote: a compromised client must not be able to delete copies there; the remote's own
operator prunes it on the server side with the same policy (`govcloud backup forget --site X --trusted`)."""

from __future__ import annotations

from backup.config import Job
from backup.engine import job_lock, restic_for
from backup.errors import BackupError, SiteError
from backup.sites import target


def policy_args(job: Job) -> list[str]:
    ret = job.section("retention")
    args = []
    for k in ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly"):
        if ret.get(k):
            args += ["--" + k.replace("_", "-"), str(ret[k])]
    if ret.get("prune", True):
        args.append("--prune")
    return args


def forget(job: Job, sites: list[str] | None = None, trusted: bool = False, dry_run: bool = False) -> dict:
    chosen = [s for s in job.sites if (s["name"] in sites if sites else s["role"] in ("primary", "sync"))]
    out = {"job": job.name, "ok": True, "sites": {}}
    r = restic_for(job)
    with job_lock(job, "forget", wait_s=600):
        for s in chosen:
            if s.get("append_only") and not trusted:
                raise BackupError(f"{job.path}: sites.{s['name']} is append-only: forget/prune runs only on the "
                                  "trusted side (on the server, with --trusted and an admin credential)")
            t = target(job, s)
            args = ["forget", "--tag", f"job:{job.name}", "--group-by", "host,paths", *policy_args(job)]
            if dry_run:
                args.append("--dry-run")
            try:
                r.run(t, ["unlock"], json_out=False, check=False, retry_lock=False, timeout=120)
                res = r.run(t, args, timeout=max(t.timeout_s, 3600))
                removed = sum(len(g.get("remove") or []) for g in (_groups(res)))
                out["sites"][s["name"]] = {"ok": True, "removed": removed}
            except SiteError as exc:
                out["ok"] = False
                out["sites"][s["name"]] = {"ok": False, "error": str(exc)}
    return out


def _groups(res) -> list[dict]:
    import json
    for line in [res.stdout, *[json.dumps(m) for m in res.messages]]:
        line = line.strip()
        if line.startswith("["):
            try:
                return json.loads(line.splitlines()[0])
            except ValueError:
                pass
    return []
