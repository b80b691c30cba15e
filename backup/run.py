"""`backup run`: back up every source to the primary repository, record the manifest, and commit the new
snapshots to the same-city sync site (dual commit: the run succeeds only when both copies exist)."""

from __future__ import annotations

import json
import secrets
import time

from backup import manifest as mf
from backup.config import Job
from backup.engine import TAG, hostname, in_progress, job_lock, job_tag, restic_for, write_json
from backup.errors import SiteError
from backup.log import event
from backup.restic import Progress, Restic
from backup.sites import Target, target


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _tags(job: Job, run_id: str, *extra: str) -> list[str]:
    out = []
    for t in (TAG, job_tag(job), f"run:{run_id}", *extra):
        out += ["--tag", t]
    return out


def copy_to(r: Restic, job: Job, src: Target, dst: Target, snapshot_ids: list[str] | None = None,
            progress=None, timeout: float | None = None) -> None:
    """`restic copy` the job's snapshots (all missing ones, or the given ids) from src to dst."""
    from_args, from_env = src.as_from()
    args = ["copy", *from_args, *src.options]
    if snapshot_ids:
        args += snapshot_ids
    else:
        args += ["--tag", job_tag(job)]
    r.run(dst, args, json_out=False, extra_env=from_env, timeout=timeout)


def present_originals(r: Restic, t: Target, job: Job) -> dict[str, dict]:
    """Snapshots of the job at a site, keyed by their id at the primary (copies keep `original`)."""
    out = {}
    for s in r.snapshots(t, [job_tag(job)]):
        out[s.get("original") or s["id"]] = s
    return out


def clear_stale_locks(r: Restic, targets: list[Target]) -> list[str]:
    """After a killed run: `restic unlock` removes only stale locks (dead PID on this host or > 30 min old),
    never a live process's lock."""
    cleared = []
    for t in targets:
        res = r.run(t, ["unlock"], json_out=False, check=False, retry_lock=False, timeout=120)
        if res.code == 0:
            cleared.append(t.name)
    return cleared


def run(job: Job, *, backup_time: str | None = None, progress: bool = True, skip_sync: bool = False) -> dict:
    """Returns the result; raises SiteError/BackupError when the run did not reach every required copy."""
    r = restic_for(job)
    primary = target(job, job.primary)
    syncs = [] if skip_sync else [target(job, s) for s in job.by_role("sync")]
    run_id = new_run_id()
    started = time.time()
    result = {"job": job.name, "run": run_id, "ok": False, "snapshots": {}, "sites": {}, "started": started}
    with job_lock(job, "run", wait_s=300), in_progress(job, "run") as killed:
        if killed:  # a previous run was killed mid-way: clear the stale locks it left
            cleared = clear_stale_locks(r, [primary, *syncs])
            event("stale_locks_cleared", job=job.name, sites=cleared)
        try:
            ids = _backup_sources(job, r, primary, run_id, backup_time, progress)
            result["snapshots"] = ids
            result["sites"][primary.name] = "committed"
            for s in syncs:
                try:
                    copy_to(r, job, primary, s)
                    have = present_originals(r, s, job)
                    missing = [i for i in ids.values() if i not in have]
                    if missing:
                        raise SiteError(s.name, "incomplete", f"snapshots {missing} not found after copy")
                    result["sites"][s.name] = "committed"
                except SiteError as exc:
                    result["sites"][s.name] = f"FAILED: {exc}"
                    result["error"] = (f"dual commit failed: snapshot(s) stored at {primary.name} only; "
                                       f"same-city site {s.name}: {exc}. Not reported as success; the next run "
                                       "copies the missing snapshots.")
                    raise SiteError(s.name, exc.kind, result["error"]) from None
            result["ok"] = True
        except SiteError as exc:
            result.setdefault("error", str(exc))
            raise
        finally:
            result["seconds"] = round(time.time() - started, 3)
            write_json(job.state_dir / "last-run.json", result)
            if result["ok"]:
                write_json(job.state_dir / "last-success.json", result)
            event("run_done" if result["ok"] else "run_failed", job=job.name, run=run_id,
                  sites=result["sites"], seconds=result["seconds"], error=result.get("error"))
    return result


def _backup_sources(job: Job, r: Restic, primary: Target, run_id: str, backup_time: str | None,
                    progress: bool) -> dict[str, str]:
    """One restic backup per source. File sources carry their sha256 manifest inside the same snapshot."""
    host = hostname(job)
    ids: dict[str, str] = {}
    state = str(job.state_dir)
    for src in job.data["sources"]:
        common = ["--host", host, *_tags(job, run_id, f"source:{src['name']}")]
        if backup_time:
            common += ["--time", backup_time]
        prog = Progress(f"backup {src['name']} -> {primary.name}") if progress else None
        try:
            if src.get("dump"):
                d = src["dump"]
                args = ["backup", "--stdin-from-command", "--stdin-filename", d["filename"], *common,
                        "--", *d["command"]]
            else:
                excludes = src.get("exclude", [])
                man = mf.build(src["paths"], excludes, job.state_dir / f"hashcache-{src['name']}.json", skip=state)
                man.update({"job": job.name, "run": run_id, "source": src["name"], "host": host})
                mdir = job.state_dir / "manifest" / src["name"]
                mdir.mkdir(parents=True, exist_ok=True)
                mpath = mdir / mf.MANIFEST_NAME
                mpath.write_text(json.dumps(man, separators=(",", ":"), ensure_ascii=False))
                args = ["backup", *common]
                for ex in excludes:
                    args += ["--exclude", ex]
                args += [*src["paths"], str(mpath)]
            res = r.run(primary, args, on_message=prog)
        finally:
            if prog:
                prog.close()
        sid = res.summary().get("snapshot_id")
        if not sid:
            raise SiteError(primary.name, "failed", f"restic reported no snapshot for source {src['name']}")
        ids[src["name"]] = sid
    return ids
