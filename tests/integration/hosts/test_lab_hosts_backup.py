"""restic from a lab host to both DR sites: SFTP (samecity) and rest-server over TLS (remote, append-only)."""

import shlex
import uuid

import pytest

from govcloud.lab import hosts

pytestmark = pytest.mark.hosts
HOST = "lhbackup-1"
SECRET = "lab-test-repo-secret"


@pytest.fixture(scope="module")
def client(lab_hosts):
    hosts.add_host(HOST)
    yield HOST
    hosts.remove_host(HOST)


def put(name, path, text, mode="600"):
    hosts.run(name, f"mkdir -p $(dirname {path}) && cat > {path} && chmod {mode} {path}", input=text)


def test_restic_backup_to_samecity_sftp(client):
    s = hosts.sites()["samecity"]
    put(client, "/root/.ssh/samecity", open(s["ssh_key"]).read())
    put(client, "/root/.ssh/samecity_known_hosts", open(s["known_hosts"]).read(), "644")
    put(client, "/root/.ssh/config",
        f"Host {s['address']}\n  User {s['user']}\n  IdentityFile /root/.ssh/samecity\n"
        "  UserKnownHostsFile /root/.ssh/samecity_known_hosts\n  StrictHostKeyChecking yes\n"
        "  ServerAliveInterval 5\n  ServerAliveCountMax 2\n")
    repo = s["repository_prefix"] + "lhtest-" + uuid.uuid4().hex[:6]
    env = f"RESTIC_PASSWORD={SECRET} RESTIC_REPOSITORY={shlex.quote(repo)}"
    hosts.run(client, f"{env} restic init", timeout=60)
    r = hosts.run(client, f"{env} restic backup --json -q /etc /usr/share/doc/openssh-server", timeout=120)
    assert '"message_type":"summary"' in r.stdout
    snaps = hosts.run(client, f"{env} restic snapshots --json", timeout=60).stdout
    assert '"paths":["/etc"' in snaps.replace(" ", "")
    # the repository really lives on the site, owned by the backup user
    out = hosts.run(s["host"], f"stat -c %U {s['base_path']}/{repo.rsplit('/', 1)[1]}/config").stdout.strip()
    assert out == s["user"]


def test_restic_backup_to_remote_rest_server_append_only(client):
    r = hosts.sites()["remote"]
    assert r["state"] == "running", r["state"]
    u = hosts.site_user("lhtest")
    assert u["user"] == "lhtest"
    password = open(u["password_file"]).read().strip()
    put(client, "/root/lab-ca.crt", open(r["ca_cert"]).read(), "644")
    repo = f"{r['repository_prefix']}lhtest/repo-{uuid.uuid4().hex[:6]}"
    env = (f"RESTIC_PASSWORD={SECRET} RESTIC_REPOSITORY={shlex.quote(repo)} RESTIC_REST_USERNAME=lhtest "
           f"RESTIC_REST_PASSWORD={shlex.quote(password)} RESTIC_CACERT=/root/lab-ca.crt")
    hosts.run(client, f"{env} restic init", timeout=60)
    hosts.run(client, f"{env} restic backup -q /etc", timeout=120)
    snap = hosts.run(client, f"{env} restic snapshots --json", timeout=60).stdout
    sid = snap.split('"short_id":"')[1].split('"')[0]
    # append-only: a client cannot delete a snapshot
    f = hosts.run(client, f"{env} restic forget {sid}", timeout=60, check=False)
    assert f.returncode != 0, f.stdout + f.stderr
    assert sid in hosts.run(client, f"{env} restic snapshots --json", timeout=60).stdout
    # no unauthenticated access, and private repos: another user cannot read lhtest's repository
    base = f"https://{r['address']}:{r['port']}/{repo.split('/', 3)[3]}/config"
    code = hosts.run(client, f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /root/lab-ca.crt {base}",
                     check=False).stdout
    assert code == "401"
    other = hosts.site_user("lhother")
    pw2 = open(other["password_file"]).read().strip()
    code = hosts.run(client, f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /root/lab-ca.crt "
                             f"-u lhother:{shlex.quote(pw2)} {base}", check=False).stdout
    assert code in ("401", "403")
    # TLS is verified against the lab CA: without it the client refuses the server
    bad = hosts.run(client, f"curl -s -o /dev/null {base}", check=False)
    assert bad.returncode != 0


def test_site_user_is_idempotent_and_password_file_private(client):
    import os
    import stat

    a = hosts.site_user("lhtest")
    b = hosts.site_user("lhtest")
    assert a == b
    assert stat.S_IMODE(os.stat(a["password_file"]).st_mode) == 0o600
