"""Config, schema, secrets, site adapters, error classification: no restic needed."""

import json
import os

import pytest

from backup import config, sample, sites
from backup.errors import BackupError
from backup.restic import classify


def _write(tmp_path, data, name="job.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def _secret(tmp_path, name="pass", mode=0o600, text="s3cret\n"):
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, mode)
    return str(p)


def good(tmp_path):
    return {
        "name": "wjw-his", "tenant": "wjw", "password_file": _secret(tmp_path),
        "state_dir": str(tmp_path / "state"),
        "sources": [{"name": "files", "paths": ["/srv/data"]},
                    {"name": "db", "dump": {"command": ["sqlite3", "/srv/a.db", ".dump"], "filename": "a.sql"}}],
        "sites": [{"name": "primary", "role": "primary", "type": "local", "path": "/var/backups/r"},
                  {"name": "samecity", "role": "sync", "type": "sftp", "host": "10.250.0.2", "user": "drbackup",
                   "path": "/srv/backup/repos/x"},
                  {"name": "remote", "role": "async", "type": "rest", "url": "https://10.250.0.3:8000/wjw/x",
                   "username": "wjw", "credential_file": _secret(tmp_path, "rest"), "append_only": True}],
    }


def test_good_config_validates(tmp_path):
    assert config.validate(_write(tmp_path, good(tmp_path))) == []


def test_every_error_reported_at_once_with_file_and_field(tmp_path):
    data = good(tmp_path)
    data["name"] = "Bad Name"
    data["password"] = "inline"  # secrets never in the config
    data["sources"][0]["paths"] = ["relative/path"]
    data["sites"][1].pop("host")
    data["sites"][2]["role"] = "primary"
    data["retention"] = {"keep_last": 0}
    p = _write(tmp_path, data)
    probs = config.validate(p)
    text = "\n".join(map(str, probs))
    assert all(str(p) in s for s in text.splitlines())
    for fld in ("name", "password", "sources[0].paths[0]", "sites[1].host", "sites", "retention.keep_last"):
        assert any(pr.field == fld for pr in probs), (fld, text)
    assert "0600 file" in text
    assert "exactly one site must have role primary" in text


def test_yaml_and_cli_validate(tmp_path, capsys):
    from backup.cli import main
    p = tmp_path / "job.yaml"
    p.write_text("name: x\nsources: []\n")
    assert main(["validate", str(p)]) == 1
    err = capsys.readouterr().err
    assert f"{p}: sites: is required" in err
    assert f"{p}: sources: needs at least 1 item(s)" in err


def test_schema_is_valid_json_schema_and_agrees_with_jsonschema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    sch = config.schema()
    jsonschema.Draft202012Validator.check_schema(sch)
    data = good(tmp_path)
    jsonschema.validate(data, sch)
    data["sites"][1].pop("user")
    assert list(jsonschema.Draft202012Validator(sch).iter_errors(data))
    assert any(f == "sites[1].user" for f, _ in config.validate_data(data, sch))


def test_sample_from_schema_validates(tmp_path):
    p = tmp_path / "sample.yaml"
    p.write_text(sample.sample())
    assert config.validate(p) == []
    assert "| `sites[].append_only` |" in sample.reference()


def test_secret_file_mode_enforced(tmp_path):
    loose = _secret(tmp_path, "loose", 0o644)
    with pytest.raises(BackupError, match="chmod 600"):
        config.read_secret(loose, "x")
    with pytest.raises(BackupError, match="does not exist"):
        config.read_secret(str(tmp_path / "nope"), "x")
    assert config.read_secret(_secret(tmp_path, "ok"), "x") == "s3cret"


def test_site_adapters_keep_secrets_out_of_argv(tmp_path):
    job = config.Job(str(tmp_path / "j"), good(tmp_path))
    rest = sites.target(job, "remote")
    assert rest.repo == "rest:https://10.250.0.3:8000/wjw/x"
    assert rest.env["RESTIC_REST_PASSWORD"] == "s3cret"
    assert "s3cret" not in " ".join(rest.options) + rest.repo
    assert rest.append_only
    sftp = sites.target(job, "samecity")
    assert sftp.repo == "sftp:drbackup@10.250.0.2:/srv/backup/repos/x"
    assert any("ServerAliveInterval=5" in o for o in sftp.options)
    assert sftp.env["RESTIC_PASSWORD_FILE"] == job.data["password_file"]
    args, env = sftp.as_from()
    assert args == ["--from-repo", sftp.repo] and "RESTIC_FROM_PASSWORD_FILE" in env


def test_swift_adapter_reads_openrc(tmp_path):
    data = good(tmp_path)
    rc = _secret(tmp_path, "openrc", text="export OS_AUTH_URL=http://127.0.0.1:5000/v3\nOS_REGION_NAME='dr'\n")
    data["sites"].append({"name": "swift", "role": "async", "type": "swift", "container": "bk", "path": "/w",
                          "credential_file": rc})
    assert config.validate(_write(tmp_path, data)) == []
    t = sites.target(config.Job("j", data), "swift")
    assert t.repo == "swift:bk:/w" and t.env["OS_REGION_NAME"] == "dr"


def test_targets_from_backup_class(tmp_path, monkeypatch):
    cls = tmp_path / "classes.json"
    cls.write_text(json.dumps({"gold": {"rpo_s": 900, "rto_s": 3600}}))
    monkeypatch.setenv("GOVCLOUD_BACKUP_CLASSES", str(cls))
    data = good(tmp_path)
    data["backup_class"] = "gold"
    assert config.Job("j", data).targets["rpo_s"] == 900
    data["targets"] = {"rpo_s": 60}
    assert config.Job("j", data).targets["rpo_s"] == 60


@pytest.mark.parametrize("stderr,code,kind", [
    ("Fatal: wrong password or no key found", 12, "wrong_password"),
    ("Fatal: repository does not exist: unable to open config file", 10, "no_repository"),
    ("Save(<data/abc>) returned error: write /srv: no space left on device", 1, "disk_full"),
    ("unable to create lock in backend: repository is already locked", 11, "locked"),
    ("subprocess ssh: ssh: connect to host 10.250.0.2 port 22: Connection refused", 1, "unreachable"),
    ("something odd", 1, "failed"),
])
def test_classify(stderr, code, kind):
    assert classify(stderr, code)[0] == kind
