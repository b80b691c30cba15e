"""Shared plumbing for the operations: the restic runner of a job, tags, the per-job run lock and the
in-progress marker that tells the next run a previous one was killed (so it clears stale locks)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from backup.config import Job
from backup.errors import BackupError
from backup.restic import Restic

TAG = "govcloud"


def job_tag(job: Job) -> str:
    return f"job:{job.name}"


def hostname(job: Job) -> str:
    return job.data.get("hostname") or socket.gethostname()


def restic_for(job: Job) -> Restic:
    cache = job.data.get("cache_dir")
    if not cache and not (os.environ.get("HOME") or os.environ.get("XDG_CACHE_HOME")):
        # under a systemd unit there is no $HOME: keep restic's cache next to the engine state
        cache = str(Path(job.data.get("state_dir") or "/var/lib/govcloud-backup") / ".restic-cache")
    return Restic(job.data.get("restic"), cache, hostname(job))


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    os.replace(tmp, path)


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


@contextmanager
def job_lock(job: Job, op: str, wait_s: float = 0):
    """One operation of a kind at a time per job (a timer run and `watch` never overlap)."""
    path = job.state_dir / f"{op}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BackupError(f"{job.name}: another `{op}` is running (lock {path}); "
                                      "it finishes on its own, or stop it first") from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def in_progress(job: Job, op: str):
    """Mark an operation as running. Yields True when a previous run of it was killed (its marker remains
    and its PID is gone), so the caller clears the stale restic locks it left."""
    marker = job.state_dir / f"{op}.inprogress"
    stale = read_json(marker, None)
    killed = bool(stale) and not _pid_alive(int(stale.get("pid", 0) or 0))
    write_json(marker, {"pid": os.getpid(), "started": time.time()})
    try:
        yield killed
    finally:
        try:
            marker.unlink()
        except OSError:
            pass
