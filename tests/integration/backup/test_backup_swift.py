"""An off-site copy in the lab cloud's Swift (region dr) through restic's swift backend: replicate there,
then drill it (restore + manifest verify)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

pytestmark = [pytest.mark.lab]


def test_swift_site_replicate_and_drill(openstack_lab, tmp_path):
    import yaml
    clouds = yaml.safe_load(open(openstack_lab["clouds_yaml"]))["clouds"]
    auth = clouds["govcloud-operator"]["auth"]
    rc = tmp_path / "dr-openrc"
    lines = [f"OS_AUTH_URL={auth['auth_url']}", f"OS_USERNAME={auth['username']}", f"OS_PASSWORD={auth['password']}",
             f"OS_PROJECT_NAME={auth['project_name']}", f"OS_USER_DOMAIN_NAME={auth['user_domain_name']}",
             f"OS_PROJECT_DOMAIN_NAME={auth['project_domain_name']}", "OS_REGION_NAME=dr",
             "OS_IDENTITY_API_VERSION=3", "OS_INTERFACE=public"]
    fd = os.open(rc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, ("\n".join(lines) + "\n").encode())
    os.close(fd)
    pw = tmp_path / "pw"
    pw.write_text(uuid.uuid4().hex)
    pw.chmod(0o600)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        (data / f"f{i}").write_bytes(os.urandom(50_000))
    cfg = {"name": "swift", "password_file": str(pw), "state_dir": str(tmp_path / "state"),
           "targets": {"rpo_s": 600, "rto_s": 300},
           "sources": [{"name": "files", "paths": [str(data)]}],
           "sites": [{"name": "primary", "role": "primary", "type": "local", "path": str(tmp_path / "repo")},
                     {"name": "dr-swift", "role": "async", "type": "swift",
                      "container": f"govcloud-bk-{uuid.uuid4().hex[:8]}", "path": "/wjw",
                      "credential_file": str(rc), "timeout_s": 180}],
           "replicate": {"attempts": 3, "backoff_s": 5},
           "drill": {"scratch_dir": str(tmp_path / "scratch"), "report_dir": str(tmp_path / "rep")}}
    p = tmp_path / "swift.json"
    p.write_text(json.dumps(cfg))

    def bk(*args):
        r = subprocess.run([sys.executable, "-m", "backup", *args, "-c", str(p)], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout
    assert json.loads(bk("init", "--json")) == {"primary": "created", "dr-swift": "created"}
    bk("run", "-q")
    rep = json.loads(bk("replicate", "--json"))["sites"]["dr-swift"]
    assert rep["ok"] and rep["missing"] == 0
    row = json.loads(bk("drill", "--json", "--site", "dr-swift", "-q"))
    assert row["ok"] and row["verify"]["checked"] == 5, row
