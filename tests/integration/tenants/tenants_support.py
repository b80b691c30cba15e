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


def purge(clouds_yaml: str, ids: list[str], role: str | None = None) -> list[str]:
    """Delete, with openstacksdk, whatever a crashed earlier run of a test stack left behind for the
    test tenant ids (servers, volumes, routers, networks, SGs, DR containers, groups, key pairs,
    application credentials, projects), so each run starts from the lab as it was. Returns what it deleted."""
    conn = connect(clouds_yaml)
    gone: list[str] = []
    projects = {p.name: p for p in conn.identity.projects() if p.name in ids}
    for p in projects.values():
        for s in conn.compute.servers(all_projects=True, project_id=p.id):
            conn.compute.delete_server(s, force=True)
            conn.compute.wait_for_delete(s, wait=120)
            gone.append(s.name)
        for v in conn.block_storage.volumes(all_projects=True, project_id=p.id):
            if v.status == "in-use":
                conn.block_storage.reset_volume_status(v, status="available", attach_status="detached",
                                                       migration_status=None)
            conn.block_storage.delete_volume(v, force=True)
            gone.append(v.name)
        for region in ("primary", "dr"):
            rc = connect(clouds_yaml, region)
            for r in rc.network.routers(project_id=p.id):
                for port in rc.network.ports(device_id=r.id, device_owner="network:router_interface"):
                    rc.network.remove_interface_from_router(r, port_id=port.id)
                rc.network.delete_router(r)
                gone.append(r.name)
            for port in rc.network.ports(project_id=p.id):
                rc.network.delete_port(port)
            for n in rc.network.networks(project_id=p.id):
                rc.network.delete_network(n)
                gone.append(n.name)
            for g in rc.network.security_groups(project_id=p.id):
                rc.network.delete_security_group(g)
                gone.append(g.name)
        dr = connect(clouds_yaml, "dr", project_id=p.id)
        for c in dr.object_store.containers():
            for o in dr.object_store.objects(c.name):
                dr.object_store.delete_object(o, container=c.name)
            dr.object_store.delete_container(c.name)
            gone.append(c.name)
    me = conn.current_user_id
    for cred in conn.identity.application_credentials(user=me):
        if cred.name.split("-")[0] in ids:
            conn.identity.delete_application_credential(me, cred)
            gone.append(cred.name)
    for kp in conn.compute.keypairs():
        if kp.name.split("-")[0] in ids:
            conn.compute.delete_keypair(kp)
            gone.append(kp.name)
    for g in conn.identity.groups():
        if g.name.split("-")[0] in ids:
            conn.identity.delete_group(g)
            gone.append(g.name)
    for p in projects.values():
        conn.identity.delete_project(p)
        gone.append(p.name)
    if role:
        r = conn.identity.find_role(role)
        if r:
            conn.identity.delete_role(r)
            gone.append(role)
    return gone
