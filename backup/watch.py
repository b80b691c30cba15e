"""`backup watch`: near-real-time mode. Changes under the file sources trigger debounced backups so the data
at risk stays within the RPO. Stdlib only: a polling scanner (stat signatures), cheap for the trees a
department host holds. A failed run (a site down) is retried with backoff while watching continues; the
next successful run carries everything written meanwhile. On start it always runs once, so changes made
while it was stopped are caught (it survives restarts)."""

from __future__ import annotations

import signal
import time

from backup import manifest as mf
from backup.config import Job
from backup.engine import write_json
from backup.errors import BackupError
from backup.log import event
from backup.run import run as run_once


def _signature(job: Job) -> dict:
    sig = {}
    for src in job.data["sources"]:
        if src.get("paths"):
            sig.update(mf.scan(src["paths"], src.get("exclude", [])))
    return sig


def watch(job: Job, max_runs: int | None = None, stop_after_s: float | None = None, runner=run_once) -> int:
    cfg = job.section("watch")
    rpo = float(job.targets["rpo_s"])
    debounce = float(cfg["debounce_s"])
    max_delay = float(cfg.get("max_delay_s") or max(1.0, rpo / 2))
    poll = float(cfg["poll_s"])
    stopping = {"flag": False}

    def _stop(*_):
        stopping["flag"] = True

    try:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    except ValueError:  # not the main thread (embedded use): stop by duration/max_runs only
        pass
    t_end = time.monotonic() + stop_after_s if stop_after_s else None
    runs = 0
    pending_since: float | None = time.monotonic()  # run once at start: catch changes made while stopped
    last_change = 0.0
    retry_at = 0.0
    failures = 0
    sig = _signature(job)
    event("watch_start", job=job.name, rpo_s=rpo, debounce_s=debounce, poll_s=poll, files=len(sig))
    while not stopping["flag"]:
        now = time.monotonic()
        if t_end and now >= t_end:
            break
        new = _signature(job)
        if new != sig:
            sig = new
            last_change = now
            if pending_since is None:
                pending_since = now
        due = pending_since is not None and now >= retry_at and (
            now - last_change >= debounce or now - pending_since >= max_delay)
        if due:
            started = pending_since
            pending_since = None
            try:
                runner(job, progress=False)
                failures = 0
                runs += 1
                write_json(job.state_dir / "watch.json", {"last_success": time.time(), "runs": runs})
            except BackupError as exc:
                failures += 1
                pending_since = started  # still at risk: keep the oldest pending time
                retry_at = time.monotonic() + min(30.0, 2.0 ** min(failures - 1, 5))
                event("watch_run_failed", job=job.name, failures=failures, error=str(exc))
            if max_runs and runs >= max_runs:
                break
            continue
        time.sleep(poll)
    event("watch_stop", job=job.name, runs=runs)
    return 0
