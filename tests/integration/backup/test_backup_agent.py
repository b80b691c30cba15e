"""Deploy the backup agent with the playbook onto a throwaway lab host and watch its systemd timer run a real
backup (dual commit to the lab's same-city SFTP site) on the host itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [pytest.mark.hosts, pytest.mark.slow]

HOST = "bk-agent"


def _wait(pred, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = pred()
        if ok:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last}")


@pytest.fixture(scope="module")
def agent(lab_hosts):
    from govcloud.lab import hosts
    h = hosts.add_host(HOST)
    yield h
    if not os.environ.get("GOVCLOUD_BACKUP_KEEP_HOSTS"):
        hosts.remove_host(HOST)


def test_playbook_installs_agent_and_timer_runs_backup(agent, tmp_path):
    from govcloud.lab import hosts
    sites = hosts.sites()
    sc, rm = sites["samecity"], sites["remote"]
    user = hosts.site_user("bktest")
    uid = uuid.uuid4().hex[:8]
    hosts.run(HOST, "mkdir -p /srv/app/data && for i in 1 2 3; do head -c 200000 /dev/urandom > /srv/app/data/f$i; "
              "done && echo 政务 > /srv/app/data/note.txt")
    pw = tmp_path / "repo.pass"
    pw.write_text(uuid.uuid4().hex + "\n")
    pw.chmod(0o600)
    etc = "/etc/govcloud-backup"
    cfg = {
        "name": "agent", "state_dir": f"/var/lib/govcloud-backup/{uid}", "tenant": "wjw", "backup_class": "gold", "password_file": f"{etc}/repo.pass",
        "sources": [{"name": "files", "paths": ["/srv/app/data"]}],
        "sites": [
            {"name": "primary", "role": "primary", "type": "local", "path": f"/var/backups/govcloud/repo-{uid}"},
            {"name": "samecity", "role": "sync", "type": "sftp", "host": sc["address"], "user": sc["user"],
             "path": f"{sc['base_path']}/agent-{uid}", "identity_file": f"{etc}/samecity_id_ed25519",
             "known_hosts": f"{etc}/samecity_known_hosts"},
            {"name": "remote", "role": "async", "type": "rest",
             "url": f"{rm['url']}{user['user']}/agent-{uid}", "username": user["user"],
             "credential_file": f"{etc}/remote.password", "cacert": f"{etc}/remote-ca.crt", "append_only": True},
        ],
        "drill": {"scratch_dir": "/var/tmp/govcloud-drill"},
    }
    cfg_file = tmp_path / "agent.yaml"
    cfg_file.write_text(json.dumps(cfg))  # JSON is YAML too
    extra = {
        "backup_agent_secret_files": [
            {"src": str(pw), "dest": f"{etc}/repo.pass"},
            {"src": sc["ssh_key"], "dest": f"{etc}/samecity_id_ed25519"},
            {"src": user["password_file"], "dest": f"{etc}/remote.password"}],
        "backup_agent_public_files": [
            {"src": sc["known_hosts"], "dest": f"{etc}/samecity_known_hosts"},
            {"src": rm["ca_cert"], "dest": f"{etc}/remote-ca.crt"}],
        "backup_agent_timer_extra": {"run": ["OnActiveSec=2s", "OnUnitActiveSec=20s"]},
        "backup_agent_randomized_delay_s": 0,
    }
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    inv = hosts.status()["inventory"]
    r = subprocess.run([sys.executable, "-m", "govcloud", "backup", "deploy", "-c", str(cfg_file), "-i", inv,
                        "-l", HOST, "-e", f"@{extra_file}"], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    modes = hosts.run(HOST, f"stat -c '%a %n' {etc}/repo.pass {etc}/samecity_id_ed25519 {etc}/remote.password "
                      f"{etc}/agent.json").stdout.split("\n")
    assert all(m.startswith("600 ") for m in modes if m), modes
    installed = hosts.run(HOST, f"cat {etc}/agent.json").stdout
    for secret in (pw.read_text().strip(), open(user["password_file"]).read().strip()):
        assert secret not in installed  # only paths of 0600 files are in the config

    # the timer, not us, runs the backup on the host
    def succeeded():
        p = hosts.run(HOST, f"cat /var/lib/govcloud-backup/{uid}/agent/last-success.json", check=False)
        return p.returncode == 0, p.stdout or p.stderr
    try:
        res = json.loads(_wait(succeeded, 240, "a timer-started backup run"))
    except AssertionError as exc:
        diag = hosts.run(HOST, "systemctl list-timers --all --no-pager; journalctl -u 'govcloud-backup-*' "
                         "--no-pager -n 40 -o cat", check=False)
        raise AssertionError(f"{exc}\n{diag.stdout}{diag.stderr}") from None
    assert res["ok"] and res["sites"] == {"primary": "committed", "samecity": "committed"}
    journal = hosts.run(HOST, "journalctl -u govcloud-backup-agent-run.service --no-pager -o cat", check=False).stdout
    assert '"event": "run_done"' in journal  # quiet + structured under the timer
    env = "PYTHONPATH=/opt/govcloud-backup GOVCLOUD_RESTIC=/opt/govcloud-backup/bin/restic"
    snaps = json.loads(hosts.run(HOST, f"{env} python3 -m backup snapshots -c {etc}/agent.json --json --site samecity",
                                 timeout=120).stdout)
    assert snaps["samecity"]["count"] >= 1  # one snapshot per source and run, manifest inside
    # the drill runs on the host too (targets come from the gold backup class shipped with the agent)
    rep = hosts.run(HOST, f"{env} python3 -m backup replicate -c {etc}/agent.json --json", timeout=180)
    assert json.loads(rep.stdout)["sites"]["remote"]["ok"], rep.stderr
    d = hosts.run(HOST, f"{env} python3 -m backup drill -c {etc}/agent.json --json --quiet", timeout=300, check=False)
    rows = [json.loads(x) for x in d.stdout.splitlines()]
    assert {x["site"] for x in rows} == {"primary", "samecity", "remote"} and all(x["ok"] for x in rows), d.stdout + d.stderr
    assert all(x["rpo_target_s"] in (900, 3600) and x["rto_target_s"] == 3600 for x in rows)
