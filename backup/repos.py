"""`backup init`: create the repository at every site that has none. Secondary sites get the primary's
chunker parameters (`--copy-chunker-params`) so copies deduplicate."""

from __future__ import annotations

from backup.config import Job
from backup.engine import restic_for
from backup.errors import SiteError
from backup.sites import target


def init(job: Job) -> dict:
    r = restic_for(job)
    primary = target(job, job.primary)
    out = {}
    for s in [job.primary] + [s for s in job.sites if s["role"] != "primary"]:
        t = target(job, s)
        res = r.run(t, ["cat", "config"], json_out=False, check=False, retry_lock=False)
        if res.code == 0:
            out[s["name"]] = "exists"
            continue
        from backup.restic import classify
        kind, _ = classify(res.stderr, res.code)
        if kind != "no_repository":
            raise SiteError(t.name, kind, f"cannot open repository: {res.stderr.strip()[-300:]}")
        args = ["init"]
        extra = {}
        if t is not primary and s["role"] != "primary":
            from_args, extra = primary.as_from()
            args += ["--copy-chunker-params", *from_args, *primary.options]
        r.run(t, args, json_out=False, extra_env=extra, retry_lock=False)
        out[s["name"]] = "created"
    return out
