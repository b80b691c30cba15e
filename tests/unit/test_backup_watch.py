"""`backup watch` logic with a fake runner: initial catch-up run, debounced runs on change, retries with
backoff through a failing site while it keeps watching."""

import threading
import time

from backup import config
from backup.errors import SiteError
from backup.watch import watch


def _job(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a").write_text("1")
    return config.Job("j", {"name": "w1", "state_dir": str(tmp_path / "state"), "targets": {"rpo_s": 10},
                            "watch": {"debounce_s": 0.3, "poll_s": 0.1, "max_delay_s": 2},
                            "sources": [{"name": "files", "paths": [str(d)]}],
                            "sites": [{"name": "primary", "role": "primary", "type": "local", "path": "/x"}]}), d


def test_watch_runs_at_start_and_after_debounced_changes(tmp_path):
    job, d = _job(tmp_path)
    runs = []

    def runner(job, progress):
        runs.append(time.monotonic())

    def writer():
        time.sleep(0.8)
        for i in range(5):  # a burst: one debounced run, not five
            (d / f"n{i}").write_text("x")
            time.sleep(0.05)
    t = threading.Thread(target=writer)
    t.start()
    watch(job, stop_after_s=3.0, runner=runner)
    t.join()
    assert len(runs) == 2, runs


def test_watch_keeps_going_through_site_outage(tmp_path):
    job, d = _job(tmp_path)
    calls = []

    def runner(job, progress):
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise SiteError("samecity", "unreachable", "link down")
    watch(job, stop_after_s=6.0, runner=runner, max_runs=1)
    assert len(calls) == 3  # two failures, retried with backoff (1 s, 2 s), then success
    assert calls[2] - calls[1] >= 1.5
