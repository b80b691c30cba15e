"""The DR engine against real restic and real sites on the lab.

Sites used: a local primary repository on the controller; a same-city SFTP site and a plain rest-server
(append-only) on our own throwaway host `bk-site` (so link cuts and a full disk hurt nobody else); the
lab's shared remote rest-server (TLS + CA + htpasswd, private repos, append-only) as the off-site copy.
Every repository path is unique per test session."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.hosts, pytest.mark.slow]

SITE_HOST = "bk-site"
REST_PORT = 8000
PY = sys.executable


def _wait(pred, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        val = pred()
        if val:
            return val
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _rest_up(address: str) -> bool:
    try:
        c = http.client.HTTPConnection(address, REST_PORT, timeout=2)
        c.request("GET", "/")
        c.getresponse().read()
        c.close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def world(lab_hosts, tmp_path_factory):
    from govcloud.lab import hosts

    base = tmp_path_factory.mktemp("bk")
    h = hosts.add_host(SITE_HOST, disk_mib=384)
    hosts.run(SITE_HOST, "mkdir -p /srv/rest /srv/sftp && systemd-run --unit=bk-rest /usr/local/bin/rest-server "
              f"--path /srv/rest --listen :{REST_PORT} --no-auth --append-only", timeout=30)
    _wait(lambda: _rest_up(h["address"]), 30, "rest-server on bk-site")
    st = hosts.status()
    sites = hosts.sites()
    user = hosts.site_user("bktest")
    w = {"base": base, "addr": h["address"], "key": st["ssh_key"], "known_hosts": st["known_hosts"],
         "remote": sites["remote"], "rest_user": user, "uid": uuid.uuid4().hex[:8]}
    pw = base / "repo.pass"
    pw.write_text(uuid.uuid4().hex + "\n")
    pw.chmod(0o600)
    w["password_file"] = str(pw)
    data = base / "data"
    data.mkdir()
    for i in range(20):
        (data / f"f{i:02d}.bin").write_bytes(os.urandom(100_000))
    (data / "readme.txt").write_text("政务云 backup test\n")
    w["data"] = data
    import sqlite3
    con = sqlite3.connect(base / "app.db")
    con.execute("create table patients(id integer primary key, name text)")
    con.executemany("insert into patients(name) values (?)", [(f"p{i}",) for i in range(50)])
    con.commit()
    con.close()
    yield w
    for fn in ("link_restore", "free_disk"):
        try:
            getattr(__import__("govcloud.lab.faults", fromlist=[fn]), fn)(SITE_HOST)
        except Exception:  # noqa: BLE001 - cleanup
            pass
    hosts.remove_host(SITE_HOST)


def make_config(w, name: str, *, targets=None, offsite_timeout=600, extra_sources=None, remote=True) -> Path:
    uid = w["uid"]
    sources = [{"name": "files", "paths": [str(w["data"])], "exclude": ["*.tmp"]}]
    if Path("/usr/bin/sqlite3").exists():
        sources.append({"name": "db", "dump": {
            "command": ["sqlite3", str(w["base"] / "app.db"), ".dump"], "filename": "app.sql",
            "restore": {"kind": "sqlite3", "check_sql": "SELECT count(*) FROM patients"}}})
    sources += extra_sources or []
    sites = [
        {"name": "primary", "role": "primary", "type": "local", "path": str(w["base"] / f"repo-{name}")},
        {"name": "samecity", "role": "sync", "type": "sftp", "host": w["addr"], "user": "root",
         "path": f"/srv/sftp/{name}-{uid}", "identity_file": w["key"], "known_hosts": w["known_hosts"],
         "timeout_s": 120},
        {"name": "offsite", "role": "async", "type": "rest", "url": f"http://{w['addr']}:{REST_PORT}/{name}-{uid}",
         "append_only": True, "timeout_s": offsite_timeout},
    ]
    if remote:
        sites.append({"name": "remote", "role": "async", "type": "rest",
                      "url": f"{w['remote']['url']}{w['rest_user']['user']}/{name}-{uid}",
                      "username": w["rest_user"]["user"], "credential_file": w["rest_user"]["password_file"],
                      "cacert": w["remote"]["ca_cert"], "append_only": True})
    cfg = {"version": 1, "name": name, "tenant": "wjw", "password_file": w["password_file"],
           "state_dir": str(w["base"] / "state"), "cache_dir": str(w["base"] / "cache"),
           "targets": targets or {"rpo_s": 3600, "rpo_async_s": 7200, "rto_s": 300},
           "sources": sources, "sites": sites,
           "replicate": {"attempts": 3, "backoff_s": 1, "backoff_max_s": 5},
           "drill": {"scratch_dir": str(w["base"] / "scratch"), "report_dir": str(w["base"] / "reports"),
                     "metrics_file": str(w["base"] / f"metrics-{name}.prom"),
                     "failure_hook": ["sh", "-c", f"echo \"$GOVCLOUD_DRILL_FAILED_SITES\" > {w['base']}/hook-{name}"]}}
    p = w["base"] / f"{name}.json"
    p.write_text(json.dumps(cfg, indent=1))
    if name not in w.setdefault("initialised", set()):  # every test can run alone (and be retried)
        bk("init", "-c", p, check=0)
        w["initialised"].add(name)
    return p


def bk(*args, timeout=300, check=None):
    r = subprocess.run([PY, "-m", "backup", *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check is not None:
        assert r.returncode == check, f"rc={r.returncode}\nstdout={r.stdout}\nstderr={r.stderr}"
    return r


def snapshots(cfg: Path, site: str) -> dict:
    from backup import config
    from backup.engine import restic_for
    from backup.run import present_originals
    from backup.sites import target
    job = config.load(cfg)
    return present_originals(restic_for(job), target(job, site), job)


def test_run_dual_commit_replicate_drill(world):
    cfg = make_config(world, "main")
    assert bk("validate", "-c", cfg, check=0).stdout.strip() == "ok"
    init = json.loads(bk("init", "-c", cfg, "--json", check=0).stdout)
    assert set(init.values()) == {"exists"}  # make_config created them; init is idempotent
    res = json.loads(bk("run", "-c", cfg, "--json", check=0).stdout)
    assert res["ok"] and res["sites"] == {"primary": "committed", "samecity": "committed"}
    assert set(snapshots(cfg, "samecity")) == set(snapshots(cfg, "primary"))
    rep = json.loads(bk("replicate", "-c", cfg, "--json", check=0).stdout)
    for s in ("offsite", "remote"):
        assert rep["sites"][s]["ok"] and rep["sites"][s]["missing"] == 0 and rep["sites"][s]["lag_s"] < 600
    r = bk("drill", "-c", cfg, "--json", check=0)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert {x["site"] for x in rows} == {"primary", "samecity", "offsite", "remote"}
    for x in rows:
        assert x["ok"] and x["verify"]["checked"] == 21 and x["verify"]["mismatched_count"] == 0, x
        if Path("/usr/bin/sqlite3").exists():
            assert x["dumps"][0]["check"] == [50]
    assert bk("check", "-c", cfg, "--json", check=0)


def test_dual_commit_fails_when_samecity_link_is_cut(world):
    from govcloud.lab import faults
    cfg = make_config(world, "main")
    (world["data"] / "new-during-outage.txt").write_text("x" * 1000)
    faults.link_cut(SITE_HOST)
    try:
        r = bk("run", "-c", cfg, "--json", timeout=200)
    finally:
        faults.link_restore(SITE_HOST)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "dual commit failed" in r.stderr and "samecity" in r.stderr
    assert '"ok": true' not in r.stdout and "run_done" not in r.stderr
    last = json.loads((world["base"] / "state" / "main" / "last-run.json").read_text())
    assert last["ok"] is False and last["sites"]["primary"] == "committed"
    assert last["sites"]["samecity"].startswith("FAILED")
    # after the link is back the next run succeeds and carries the snapshots the failed run left behind
    _wait(lambda: subprocess.run(["ssh", "-i", world["key"], "-o", f"UserKnownHostsFile={world['known_hosts']}",
                                  "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", f"root@{world['addr']}", "true"],
                                 capture_output=True).returncode == 0, 60, "bk-site reachable again", 1)
    res = json.loads(bk("run", "-c", cfg, "--json", check=0).stdout)
    assert res["ok"] and res["sites"]["samecity"] == "committed"
    assert set(snapshots(cfg, "samecity")) == set(snapshots(cfg, "primary"))


def test_sigkill_mid_backup_next_run_clears_stale_lock(world):
    flag = world["base"] / "slow-dump-released"
    slow = {"name": "slowdump", "dump": {
        "command": ["sh", "-c", f"head -c 8000000 /dev/urandom; while [ ! -e {flag} ]; do sleep 0.2; done"],
        "filename": "slow.bin"}}
    cfg = make_config(world, "kill", extra_sources=[slow], remote=False)
    repo = world["base"] / "repo-kill"
    # become the subreaper of what we start, so the restic orphaned by the SIGKILL is reaped by us at once
    # (its lock turns stale only once its PID is gone) instead of whenever the machine's PID 1 gets to it
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    proc = subprocess.Popen([PY, "-m", "backup", "run", "-c", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        # mid-backup for sure: the dump command is still producing (blocked on the flag) and restic holds a lock
        def in_slow_dump():
            r = subprocess.run(["pgrep", "-f", "--", "stdin-filename slow.bin"], capture_output=True)
            return r.returncode == 0 and any((repo / "locks").iterdir())
        _wait(in_slow_dump, 120, "restic backing up the slow dump")
        time.sleep(0.5)
    finally:
        pids = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for p in pids:
            try:
                os.waitpid(int(p), 0)
            except (ChildProcessError, ValueError):
                pass
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    assert proc.returncode == -signal.SIGKILL
    # the orphaned restic is reaped by PID 1; until then its PID exists and its lock is not yet stale
    _wait(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 60, "killed processes reaped")
    assert list((repo / "locks").iterdir()), "the killed restic should have left its lock behind"
    flag.write_text("go")
    r = bk("run", "-c", cfg, "--json", check=0)
    assert "stale_locks_cleared" in r.stderr
    assert json.loads(r.stdout)["ok"]
    assert not list((repo / "locks").iterdir())
    from backup.restic import restic_binary
    chk = subprocess.run([restic_binary(), "-r", str(repo), "check", "--read-data"], capture_output=True, text=True,
                         env=dict(os.environ, RESTIC_PASSWORD_FILE=world["password_file"]), timeout=300)
    assert chk.returncode == 0, chk.stderr
    assert "no errors were found" in chk.stdout


def test_replicate_retries_through_remote_link_cut(world):
    from govcloud.lab import faults
    cfg = make_config(world, "main", offsite_timeout=12)
    (world["data"] / "for-replicate.txt").write_text("y" * 5000)
    bk("run", "-c", cfg, check=0)
    faults.link_cut(SITE_HOST)
    restored = False
    try:
        proc = subprocess.Popen([PY, "-m", "backup", "replicate", "-c", str(cfg), "--site", "offsite",
                                 "--attempts", "8", "--backoff", "2", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # the first attempt cannot reach the site; once it has failed, bring the link back
        err_lines: list[str] = []

        def retried():
            line = proc.stderr.readline()
            err_lines.append(line)
            return "replicate_retry" in line or proc.poll() is not None
        _wait(retried, 120, "a replicate retry", 0)
        assert proc.poll() is None, "".join(err_lines)
        faults.link_restore(SITE_HOST)
        restored = True
        out, err = proc.communicate(timeout=300)
    finally:
        if not restored:
            faults.link_restore(SITE_HOST)
    assert proc.returncode == 0, "".join(err_lines) + err
    rec = json.loads(out)["sites"]["offsite"]
    assert rec["ok"] and rec["attempts"] >= 2 and rec["missing"] == 0
    # nothing lost: the same snapshot set at both sites
    assert set(snapshots(cfg, "offsite")) == set(snapshots(cfg, "primary"))


def test_drill_rpo_rto_match_what_was_arranged(world):
    """Snapshots taken 10 minutes ago reach the off-site copy; a fresh run reaches primary + same-city only."""
    cfg = make_config(world, "rpo", targets={"rpo_s": 300, "rpo_async_s": 300, "rto_s": 300}, remote=False)
    past = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 600))
    bk("run", "-c", cfg, "--time", past, check=0)
    bk("replicate", "-c", cfg, check=0)
    bk("run", "-c", cfg, check=0)
    t0 = time.monotonic()
    r = bk("drill", "-c", cfg, "--json")
    wall = time.monotonic() - t0
    rows = {x["site"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 1, r.stderr  # the off-site copy is older than its 300 s target
    assert "offsite" in r.stderr
    for s in ("primary", "samecity"):
        assert rows[s]["ok"] and rows[s]["rpo_s"] < 120, rows[s]
    off = rows["offsite"]
    assert not off["ok"] and 590 <= off["rpo_s"] <= 600 + 120 + wall, off
    assert "RPO" in off["error"] and off["verify"]["mismatched_count"] == 0
    assert 0 < sum(x["rto_s"] for x in rows.values()) <= wall
    assert (world["base"] / "hook-rpo").read_text().strip() == "offsite"
    prom = (world["base"] / "metrics-rpo.prom").read_text()
    assert 'govcloud_backup_drill_ok{job="rpo",site="offsite"} 0' in prom
    html = sorted((world["base"] / "reports").glob("drill-rpo-*.html"))[-1].read_text()
    assert "offsite" in html and "FAIL" in html


def test_clear_errors_wrong_password_missing_repo_full_disk(world):
    from govcloud.lab import faults
    cfg = make_config(world, "main")
    data = json.loads(cfg.read_text())
    bad_pw = world["base"] / "wrong.pass"
    bad_pw.write_text("not-the-password\n")
    bad_pw.chmod(0o600)
    data["password_file"] = str(bad_pw)
    p = world["base"] / "wrongpw.json"
    p.write_text(json.dumps(data))
    r = bk("snapshots", "-c", p, "--site", "primary")
    assert r.returncode == 2 and "site primary: wrong repository password" in r.stderr, r.stderr
    loose = world["base"] / "loose.pass"
    loose.write_text("x\n")
    loose.chmod(0o644)
    data["password_file"] = str(loose)
    p.write_text(json.dumps(data))
    r = bk("snapshots", "-c", p, "--site", "primary")
    assert r.returncode == 2 and "chmod 600" in r.stderr
    data = json.loads(cfg.read_text())
    data["sites"][1]["path"] = "/srv/sftp/does-not-exist"
    p.write_text(json.dumps(data))
    r = bk("snapshots", "-c", p, "--site", "samecity")
    assert r.returncode == 2 and "site samecity: no repository at this location" in r.stderr, r.stderr
    # full disk at the off-site rest-server
    (world["data"] / "big.bin").write_bytes(os.urandom(3_000_000))
    bk("run", "-c", cfg, check=0)
    faults.fill_disk(SITE_HOST)
    try:
        r = bk("replicate", "-c", cfg, "--site", "offsite", "--attempts", "1")
    finally:
        faults.free_disk(SITE_HOST)
        (world["data"] / "big.bin").unlink()
    assert r.returncode == 1
    assert "target disk is full" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "offsite" in r.stderr


def test_append_only_remote_refuses_removal(world):
    cfg = make_config(world, "main")
    bk("run", "-c", cfg, check=0)
    bk("replicate", "-c", cfg, "--site", "remote", check=0)
    before = snapshots(cfg, "remote")
    assert before
    r = bk("forget", "-c", cfg, "--site", "remote")
    assert r.returncode == 2 and "append-only" in r.stderr
    # a client going around the engine with restic itself cannot delete either
    from backup import config
    from backup.engine import restic_for
    from backup.sites import target
    job = config.load(cfg)
    rr = restic_for(job)
    t = target(job, "remote")
    victim = next(iter(before.values()))["id"]
    res = rr.run(t, ["forget", victim], json_out=False, check=False, retry_lock=False, timeout=120)
    assert res.code != 0
    assert set(snapshots(cfg, "remote")) == set(before)


def test_corrupted_pack_fails_check_and_drill_naming_the_site(world):
    from govcloud.lab import hosts
    cfg = make_config(world, "main")
    bk("run", "-c", cfg, check=0)
    bk("replicate", "-c", cfg, check=0)
    repo = f"/srv/sftp/main-{world['uid']}"
    # overwrite 64 bytes in the middle of every pack file at the same-city site only
    hosts.run(SITE_HOST, f"for f in $(find {repo}/data -type f); do s=$(stat -c %s $f); "
              f"dd if=/dev/urandom of=$f bs=1 count=64 seek=$((s/2)) conv=notrunc status=none; done", timeout=60)
    r = bk("check", "-c", cfg, "--read-all", "--json")
    assert r.returncode == 1
    res = json.loads(r.stdout)
    assert res["failed_sites"] == ["samecity"], res
    assert "check FAILED for site(s): samecity" in r.stderr
    r = bk("drill", "-c", cfg, "--json")
    rows = {x["site"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 1 and "drill FAILED at site(s): samecity" in r.stderr, r.stderr
    assert not rows["samecity"]["ok"] and rows["samecity"]["error"]
    assert all(rows[s]["ok"] for s in ("primary", "offsite", "remote")), rows
