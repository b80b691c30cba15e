"""Backup jobs for the demo: one per tenant that has servers on the lab, on its first server.

The job follows the tenant's backup class from the catalog (RPO/RTO targets; same-city and/or remote
site) and uses the lab's DR sites. Secrets are written as 0600 files under the evidence work dir and
shipped by the backup_agent role; the job config only names their paths on the host.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from govcloud.paths import REPO

ETC = "/etc/govcloud-backup"
DATA = "/srv/app/data"


def _secret_file(path: Path, text: str) -> Path:
    if not path.exists():
        path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def server_hosts() -> dict[str, list[tuple[str, str]]]:
    """tenant id -> [(lab host name, inventory name)] of the hosts standing in for its servers."""
    from govcloud.lab.hosts import core

    out: dict[str, list[str]] = {}
    for name, rec in sorted(core.load()["hosts"].items(), key=lambda kv: kv[1].get("inventory_name") or kv[0]):
        if rec.get("role") == "server" and rec.get("state") == "running":
            tenant = (rec.get("vars") or {}).get("tenant") or "unknown"
            out.setdefault(str(tenant), []).append((name, rec.get("inventory_name") or name))
    return out


def job_for(tenant: dict, backup_class: dict, host: tuple[str, str], sites: dict, workdir: Path) -> dict:
    """Config + extra vars for one tenant's job on `host` (lab host name, inventory name)."""
    from govcloud.lab import hosts

    tid = tenant["id"]
    name = f"{tid}-demo"
    wanted = set(backup_class.get("sites") or [])
    secret_files = [{"src": str(_secret_file(workdir / f"{name}.repo.pass", secrets.token_urlsafe(32))),
                     "dest": f"{ETC}/repo.pass"}]
    public_files = []
    job_sites = [{"name": "primary", "role": "primary", "type": "local", "path": "/var/backups/govcloud/repo"}]
    if "samecity" in wanted:
        sc = sites["samecity"]
        job_sites.append({"name": "samecity", "role": "sync", "type": "sftp", "host": sc["address"],
                          "user": sc["user"], "path": f"{sc['base_path']}/{name}",
                          "identity_file": f"{ETC}/samecity_id_ed25519", "known_hosts": f"{ETC}/samecity_known_hosts"})
        secret_files.append({"src": sc["ssh_key"], "dest": f"{ETC}/samecity_id_ed25519"})
        public_files.append({"src": sc["known_hosts"], "dest": f"{ETC}/samecity_known_hosts"})
    if "remote" in wanted:
        rm = sites["remote"]
        user = hosts.site_user(tid)
        job_sites.append({"name": "remote", "role": "async", "type": "rest",
                          "url": f"{rm['url']}{user['user']}/{name}", "username": user["user"],
                          "credential_file": f"{ETC}/remote.password", "cacert": f"{ETC}/remote-ca.crt",
                          "append_only": True})
        secret_files.append({"src": user["password_file"], "dest": f"{ETC}/remote.password"})
        public_files.append({"src": rm["ca_cert"], "dest": f"{ETC}/remote-ca.crt"})
    config = {
        "version": 1, "name": name, "tenant": tid, "backup_class": tenant.get("backup_class"),
        "password_file": f"{ETC}/repo.pass",
        "sources": [{"name": "files", "paths": [DATA]}],
        "sites": job_sites,
        "drill": {"scratch_dir": "/var/tmp/govcloud-drill"},
    }
    config_file = workdir / f"{name}.json"
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    extra = {"backup_agent_secret_files": secret_files, "backup_agent_public_files": public_files}
    extra_file = workdir / f"{name}.extra.json"
    extra_file.write_text(json.dumps(extra, indent=2), encoding="utf-8")
    env = (f"PYTHONPATH=/opt/govcloud-backup GOVCLOUD_RESTIC=/opt/govcloud-backup/bin/restic "
           f"GOVCLOUD_BACKUP_CLASSES={ETC}/backup_classes.json")
    seed = (f"mkdir -p {DATA} && for i in 1 2 3 4; do head -c 1000000 /dev/urandom > {DATA}/records-$i.bin; done"
            f" && echo '{tenant.get('name', tid)} 政务数据' > {DATA}/README.txt")
    return {
        "tenant": tid, "host": host[0], "inventory_host": host[1], "config": str(config_file), "extra": str(extra_file),
        "commands": {
            "seed sample data": seed,
            # the same units the timers start: the demo runs exactly what runs every night
            "backup run (dual commit)": f"systemctl start govcloud-backup-{name}-run.service",
            "replicate to the remote site": f"systemctl start govcloud-backup-{name}-replicate.service",
            "drill": f"{env} python3 -m backup drill -c {ETC}/{name}.json --json --quiet",
        },
    }


def prepare_jobs(workdir: Path) -> list[dict]:
    from govcloud.lab import hosts
    from infra import catalog

    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)
    cat = catalog.load(REPO / "infra" / "tenants")
    by_id = cat.by_id()
    sites = hosts.sites()
    inventory = hosts.status()["inventory"]
    jobs = []
    for tid, names in sorted(server_hosts().items()):
        tenant = by_id.get(tid)
        if tenant is None or not tenant.get("backup_class"):
            continue
        job = job_for(tenant, cat.backup_classes[tenant["backup_class"]], names[0], sites, workdir)
        job["inventory"] = inventory
        jobs.append(job)
    return jobs
