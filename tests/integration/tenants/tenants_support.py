"""Helpers for the tenants integration tests: a throwaway Pulumi project dir, openstacksdk connections."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import openstack
import openstack.config
import yaml

from govcloud import paths, tenants

REPO = paths.REPO

CODES = {"cta": "11371500MB2848571", "ctb": "11371500MB2848572", "ctc": "11371500MB2848573"}


def credit(first17: str) -> str:
    from infra.catalog import credit_check_char

    return first17 + credit_check_char(first17)


def tenant_yaml(tid: str, level: int, octet: int, *, servers: bool = False, link_to: str | None = None,
                zones: int = 2) -> str:
    lines = [
        f"id: {tid}", f"name: 测试{tid}局", f"name_en: CI test bureau {tid}", f'credit_code: "{credit(CODES[tid])}"',
        f"mlps_level: {level}", "owner: 测试员", "data_location: CN-SD-Liaocheng", "contacts:",
        f"  - {{duty: system_admin, name: 系统{tid}, phone: 0635-1000001, email: s@{tid}.lc.gov.cn}}",
        f"  - {{duty: security_admin, name: 安全{tid}, phone: 0635-1000002, email: x@{tid}.lc.gov.cn}}",
        f"  - {{duty: audit_admin, name: 审计{tid}, phone: 0635-1000003, email: a@{tid}.lc.gov.cn}}",
        "quota_class: small", "zones:",
        f"  - {{name: mgmt, kind: management, cidr: 10.{octet}.200.0/24}}",
    ]
    if zones > 1:
        lines.append(f"  - {{name: app, kind: business, cidr: 10.{octet}.201.0/24}}")
    if servers:
        lines += ["servers:",
                  "  - {name: web, flavor: gc.small, image: debian-12-hardened, zone: app, "
                  "volumes: [{name: data, size_gb: 1}]}"]
    lines.append(f"backup_class: {'gold' if level == 3 else 'bronze'}")
    if link_to:
        lines += ["exchange:", f"  - {{to: {link_to}, from_zone: app, to_zone: app, protocol: tcp, ports: [443]}}"]
    return "\n".join(lines) + "\n"


def make_project(root: Path, stack: str, catalog_dir: Path, clouds_yaml: str, pubkey: str,
                 security_role: str) -> Path:
    """A Pulumi project outside the repo (so test stacks leave no Pulumi.<stack>.yaml in the checkout)
    running the repo's program."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "govcloud", "runtime": {"name": "python", "options": {"virtualenv": str(REPO / ".venv")}},
        "main": str(REPO / "infra")}))
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {
        "govcloud:catalogDir": str(catalog_dir), "govcloud:cloudsYaml": clouds_yaml,
        "govcloud:cloud": "govcloud-admin", "govcloud:opsPublicKey": pubkey,
        "govcloud:securityRole": security_role, "govcloud:forceDestroyContainers": "true"}}))
    return root


def keypair(tmp: Path) -> str:
    key = tmp / "ops_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "citest@govcloud", "-f", str(key)],
                       check=True)
    return (tmp / "ops_ed25519.pub").read_text().strip()


def pulumi_run(project: Path, stack: str, verb: str, *extra: str, timeout: float = 480):
    proc = tenants.run_stack_command(verb, stack, list(extra), cwd=project, capture=True, timeout=timeout)
    return proc


def connect(clouds_yaml: str, region: str = "primary", project_id: str | None = None) -> openstack.connection.Connection:
    cfg = openstack.config.OpenStackConfig(config_files=[clouds_yaml], load_envvars=False)
    kwargs = {}
    if project_id:
        auth = dict(cfg.get_one(cloud="govcloud-admin").auth)
        for k in ("project_name", "project_domain_name", "project_domain_id", "tenant_name"):
            auth.pop(k, None)
        auth["project_id"] = project_id
        kwargs["auth"] = auth
    region_cfg = cfg.get_one(cloud="govcloud-admin", region_name=region, **kwargs)
    return openstack.connection.Connection(config=region_cfg)


def wait_for(pred, timeout: float = 120, interval: float = 2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def snapshot(conn: openstack.connection.Connection) -> dict:
    """Names of projects, networks, subnets, routers and security groups that exist now."""
    return {
        "projects": sorted(p.name for p in conn.identity.projects()),
        "networks": sorted(n.name for n in conn.network.networks()),
        "subnets": sorted(s.cidr for s in conn.network.subnets()),
        "routers": sorted(r.name for r in conn.network.routers()),
        "security_groups": sorted(g.name for g in conn.network.security_groups() if g.name != "default"),
    }
