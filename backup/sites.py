"""Sites: how each repository type is addressed by restic (one small adapter per integration).

An adapter turns a site's config into (repository string, extra restic options, environment). Secrets
reach restic through *_FILE variables or the child's environment only, never argv or logs.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field

from backup.config import Job, read_secret
from backup.errors import BackupError


@dataclass
class Target:
    """A resolved repository: everything restic needs to open it."""
    name: str
    role: str
    kind: str
    repo: str
    options: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    append_only: bool = False
    timeout_s: float = 600

    def as_from(self) -> tuple[list[str], dict[str, str]]:
        """Arguments and environment to use this repository as the source of `restic copy`."""
        args = ["--from-repo", self.repo]
        env = {}
        for k, v in self.env.items():
            if k == "RESTIC_PASSWORD_FILE":
                env["RESTIC_FROM_PASSWORD_FILE"] = v
            elif k == "RESTIC_PASSWORD":
                env["RESTIC_FROM_PASSWORD"] = v
            else:
                env[k] = v
        # options (-o ..., --cacert) apply to both repositories of a copy
        return args, env


def _password_env(job: Job, site: dict) -> dict[str, str]:
    pf = site.get("password_file") or job.data.get("password_file")
    if pf:
        read_secret(pf, f"{job.path}: {'sites.' + site['name'] + '.' if site.get('password_file') else ''}password_file")
        return {"RESTIC_PASSWORD_FILE": pf}
    return {"RESTIC_PASSWORD": job.repo_password(site)}


def _local(job: Job, site: dict) -> Target:
    return Target(site["name"], site["role"], "local", site["path"])


def _sftp(job: Job, site: dict) -> Target:
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
           "-o", "ConnectTimeout=10"]
    if site.get("identity_file"):
        read_secret(site["identity_file"], f"{job.path}: sites.{site['name']}.identity_file")
        ssh += ["-i", site["identity_file"], "-o", "IdentitiesOnly=yes"]
    if site.get("known_hosts"):
        ssh += ["-o", f"UserKnownHostsFile={site['known_hosts']}", "-o", "StrictHostKeyChecking=yes"]
    if site.get("port"):
        ssh += ["-p", str(site["port"])]
    ssh += [f"{site['user']}@{site['host']}", "-s", "sftp"]
    repo = f"sftp:{site['user']}@{site['host']}:{site['path']}"
    return Target(site["name"], site["role"], "sftp", repo,
                  options=["-o", "sftp.command=" + shlex.join(ssh)])


def _rest(job: Job, site: dict) -> Target:
    env: dict[str, str] = {}
    if site.get("username"):
        env["RESTIC_REST_USERNAME"] = site["username"]
        if site.get("credential_file"):
            env["RESTIC_REST_PASSWORD"] = read_secret(site["credential_file"],
                                                      f"{job.path}: sites.{site['name']}.credential_file")
        elif site.get("credential_env"):
            val = os.environ.get(site["credential_env"])
            if not val:
                raise BackupError(f"{job.path}: sites.{site['name']}.credential_env: "
                                  f"${site['credential_env']} is not set")
            env["RESTIC_REST_PASSWORD"] = val
    opts = ["--cacert", site["cacert"]] if site.get("cacert") else []
    return Target(site["name"], site["role"], "rest", "rest:" + site["url"], options=opts, env=env)


def _swift(job: Job, site: dict) -> Target:
    text = read_secret(site["credential_file"], f"{job.path}: sites.{site['name']}.credential_file")
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[7:]
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        env[k.strip()] = v.strip().strip("'\"")
    missing = [k for k in ("OS_AUTH_URL",) if k not in env]
    if missing:
        raise BackupError(f"{site['credential_file']}: missing {', '.join(missing)} (OS_* lines as in an openrc file)")
    opts = ["--cacert", site["cacert"]] if site.get("cacert") else []
    path = site.get("path") or "/"
    return Target(site["name"], site["role"], "swift", f"swift:{site['container']}:{path}", options=opts, env=env)


ADAPTERS = {"local": _local, "sftp": _sftp, "rest": _rest, "swift": _swift}


def target(job: Job, site: dict | str) -> Target:
    if isinstance(site, str):
        site = job.site(site)
    t = ADAPTERS[site["type"]](job, site)
    t.env.update(_password_env(job, site))
    t.append_only = bool(site.get("append_only"))
    t.timeout_s = float(site.get("timeout_s", 600))
    return t


def targets(job: Job, names: list[str] | None = None, roles: tuple[str, ...] = ("primary", "sync", "async")):
    out = []
    for s in job.sites:
        if s["role"] in roles and (not names or s["name"] in names):
            out.append(target(job, s))
    if names:
        unknown = set(names) - {s["name"] for s in job.sites}
        if unknown:
            raise BackupError(f"{job.path}: unknown site(s) {', '.join(sorted(unknown))}")
    return out
