"""Manifest, drill selection, reports/metrics, replicate retries (fake restic), and one end-to-end pass
with the real restic on local repositories (skipped when restic is not built yet)."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from backup import config, manifest, metrics, replicate, reports, retention
from backup.drill import parse_time, pick_run
from backup.errors import BackupError, SiteError


def test_manifest_excludes_hashes_and_cache(tmp_path):
    d = tmp_path / "data"
    (d / "cache").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "b.tmp").write_text("b")
    (d / "cache" / "c").write_text("c")
    m = manifest.build([str(d)], ["*.tmp", "cache"], tmp_path / "hc.json")
    assert set(m["files"]) == {str(d / "a.txt")}
    size, mtime_ns, digest = m["files"][str(d / "a.txt")]
    assert size == 1 and digest == manifest.sha256_file(str(d / "a.txt"))
    # cache hit: same signature, the file is not read again
    cache = json.loads((tmp_path / "hc.json").read_text())
    cache[str(d / "a.txt")][4] = "cached"
    (tmp_path / "hc.json").write_text(json.dumps(cache))
    assert manifest.build([str(d)], ["*.tmp", "cache"], tmp_path / "hc.json")["files"][str(d / "a.txt")][2] == "cached"
    # the state dir is never part of its own manifest
    assert manifest.build([str(tmp_path)], [], None, skip=str(d))["files"].keys().isdisjoint({str(d / "a.txt")})


def test_verify_detects_missing_mismatch_and_changed(tmp_path):
    root = tmp_path / "restore"
    (root / "x").mkdir(parents=True)
    for n in ("ok", "bad", "changed"):
        (root / "x" / n).write_text(n)
    st = {n: os.stat(root / "x" / n) for n in ("ok", "bad", "changed")}
    m = {"files": {"/x/ok": [2, st["ok"].st_mtime_ns, manifest.sha256_file(str(root / "x" / "ok"))],
                   "/x/bad": [3, st["bad"].st_mtime_ns, "0" * 64],
                   "/x/changed": [7, 1, "0" * 64],
                   "/x/gone": [1, 1, "0" * 64]}}
    v = manifest.verify(m, str(root))
    assert v["missing"] == ["/x/gone"] and v["mismatched"] == ["/x/bad"]
    assert v["changed_during_backup"] == 1 and v["checked"] == 2


def test_parse_time_and_pick_run():
    t = parse_time("2026-12-05T05:18:33.166342045Z")
    assert abs(t - 1796447913.166342) < 1e-3
    assert parse_time("2026-12-05T06:18:33.1+01:00") == pytest.approx(t - 0.066342, abs=1e-3)
    snaps = [
        {"id": "a1", "short_id": "a1", "time": "2026-12-05T05:00:00Z", "tags": ["run:r1", "source:files"]},
        {"id": "b1", "short_id": "b1", "time": "2026-12-05T05:00:01Z", "tags": ["run:r1", "source:db"]},
        {"id": "a2", "short_id": "a2", "time": "2026-12-05T06:00:00Z", "tags": ["run:r2", "source:files"],
         "original": "p2"},
    ]
    rid, data = pick_run(snaps, None)
    assert rid == "r2" and [s["id"] for s in data] == ["a2"]
    rid, data = pick_run(snaps, "a1")
    assert rid == "r1" and {s["id"] for s in data} == {"a1", "b1"}
    assert pick_run(snaps, "p2")[0] == "r2"  # the primary's id finds the copy
    with pytest.raises(BackupError):
        pick_run(snaps, "zz")


def test_reports_and_metrics(tmp_path):
    job = config.Job("j", {"name": "wjw-his", "sources": [], "sites": [],
                           "state_dir": str(tmp_path), "drill": {"report_dir": str(tmp_path / "r"),
                                                                 "metrics_file": str(tmp_path / "m.prom")}})
    rep = {"job": "wjw-his", "tenant": "wjw", "started": 0, "finished": 10, "ok": False,
           "targets": {"rpo_s": 60, "rpo_async_s": 3600, "rto_s": 600},
           "sites": [{"site": "primary", "ok": True, "rpo_s": 5.0, "rto_s": 1.5, "rpo_target_s": 60,
                      "rto_target_s": 600, "snapshots": ["ab"], "verify": {"checked": 3}},
                     {"site": "remote", "ok": False, "rpo_s": None, "rto_s": None, "error": "<corrupt>"}]}
    paths = reports.write(job, rep)
    html = Path(paths["html"]).read_text()
    assert "FAIL" in html and "&lt;corrupt&gt;" in html
    metrics.write_drill(job, rep)
    prom = (tmp_path / "m.prom").read_text()
    assert 'govcloud_backup_drill_ok{job="wjw-his",site="remote"} 0' in prom
    assert 'govcloud_backup_drill_rto_seconds{job="wjw-his",site="primary"} 1.5' in prom


def test_retention_refuses_append_only(tmp_path):
    pw = tmp_path / "p"
    pw.write_text("x")
    pw.chmod(0o600)
    job = config.Job("j", {"name": "j1", "password_file": str(pw), "state_dir": str(tmp_path), "sources": [],
                           "sites": [{"name": "remote", "role": "async", "type": "rest", "url": "https://h/x",
                                      "append_only": True}]})
    with pytest.raises(BackupError, match="append-only"):
        retention.forget(job, sites=["remote"])


def test_replicate_retries_with_backoff(tmp_path, monkeypatch):
    pw = tmp_path / "p"
    pw.write_text("x")
    pw.chmod(0o600)
    job = config.Job("j", {"name": "j1", "password_file": str(pw), "state_dir": str(tmp_path), "sources": [],
                           "sites": [{"name": "primary", "role": "primary", "type": "local", "path": "/r"},
                                     {"name": "remote", "role": "async", "type": "local", "path": "/x"}]})
    calls = {"copy": 0}

    def fake_copy(r, job, src, dst, *a, **k):
        calls["copy"] += 1
        if calls["copy"] < 3:
            raise SiteError(dst.name, "unreachable", "link down")

    snaps = {"p1": {"id": "p1", "time": "2026-12-05T05:00:00Z", "tags": []}}
    monkeypatch.setattr(replicate, "copy_to", fake_copy)
    monkeypatch.setattr(replicate, "present_originals", lambda r, t, job: dict(snaps))
    monkeypatch.setattr(replicate, "restic_for", lambda job: None)
    slept = []
    out = replicate.replicate(job, attempts=5, backoff_s=1, sleep=slept.append)
    assert out["ok"] and out["sites"]["remote"]["attempts"] == 3
    assert slept == [1, 2]


RESTIC = os.environ.get("GOVCLOUD_RESTIC") or (shutil.which("restic", path=str(Path(sys.prefix) / "bin")))


@pytest.mark.skipif(not RESTIC, reason="restic not built yet (govcloud setup)")
def test_end_to_end_local_repos(tmp_path, monkeypatch):
    """run (dual commit) -> replicate -> check -> drill on three local repositories, real restic."""
    from backup.check import check
    from backup.drill import drill
    from backup.repos import init
    from backup.run import run

    monkeypatch.setenv("GOVCLOUD_RESTIC", RESTIC)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        (data / f"f{i}").write_bytes(os.urandom(10000))
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("create table t(x)")
    con.executemany("insert into t values (?)", [(i,) for i in range(7)])
    con.commit()
    con.close()
    pw = tmp_path / "pass"
    pw.write_text("pw")
    pw.chmod(0o600)
    have_sqlite = shutil.which("sqlite3") is not None
    sources = [{"name": "files", "paths": [str(data)]}]
    if have_sqlite:
        sources.append({"name": "db", "dump": {"command": ["sqlite3", str(db), ".dump"], "filename": "app.sql",
                                               "restore": {"kind": "sqlite3", "check_sql": "SELECT count(*) FROM t"}}})
    cfg = {"name": "unit-e2e", "password_file": str(pw), "state_dir": str(tmp_path / "state"),
           "targets": {"rpo_s": 600, "rto_s": 120}, "sources": sources,
           "sites": [{"name": "primary", "role": "primary", "type": "local", "path": str(tmp_path / "r1")},
                     {"name": "samecity", "role": "sync", "type": "local", "path": str(tmp_path / "r2")},
                     {"name": "remote", "role": "async", "type": "local", "path": str(tmp_path / "r3")}],
           "drill": {"scratch_dir": str(tmp_path / "scratch"), "report_dir": str(tmp_path / "rep")}}
    p = tmp_path / "job.json"
    p.write_text(json.dumps(cfg))
    job = config.load(p)
    assert init(job) == {"primary": "created", "samecity": "created", "remote": "created"}
    res = run(job, progress=False)
    assert res["ok"] and res["sites"] == {"primary": "committed", "samecity": "committed"}
    rep = replicate.replicate(job)
    assert rep["ok"] and rep["sites"]["remote"]["missing"] == 0
    assert check(job)["ok"]
    d = drill(job, progress=False)
    assert d["ok"], d
    assert {s["site"] for s in d["sites"]} == {"primary", "samecity", "remote"}
    for s in d["sites"]:
        assert s["verify"]["checked"] == 5 and s["verify"]["changed_during_backup"] == 0
        assert s["rto_s"] > 0 and 0 <= s["rpo_s"] < 300
        if have_sqlite:
            assert s["dumps"][0]["check"] == [7]
    # the CLI prints one JSON object per site
    out = subprocess.run([sys.executable, "-m", "backup", "drill", "-c", str(p), "--json", "--site", "remote"],
                         capture_output=True, text=True, env=dict(os.environ, GOVCLOUD_RESTIC=RESTIC))
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["site"] for x in lines] == ["remote"] and {"ok", "rpo_s", "rto_s"} <= set(lines[0])
