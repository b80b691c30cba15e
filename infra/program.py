"""The Pulumi program: validate the catalog, build region providers, one Tenant component per department.

Stack configuration (namespace `govcloud`, see Pulumi.lab.yaml and docs/tenants.md):
  catalogDir        catalog directory (relative to the repo root), default infra/tenants
  cloudFile         the target cloud description, default infra/cloud.yaml next to the catalog
  cloud             clouds.yaml cloud used by the stack (admin rights), default govcloud-admin
  cloudsYaml        clouds.yaml path; default $OS_CLIENT_CONFIG_FILE, then the standard locations
  opsPublicKey      SSH public key (text) installed on every server as key pair <id>-ops
  opsPublicKeyFile  ... or a file holding it (relative to the repo root)
  opsKeyFromLab     true: use the lab's SSH key (govcloud.lab.hosts.status()["ssh_key"] + ".pub")
  securityRole      Keystone role of the security_admin duty, default security_admin
  createSecurityRole  create that role in this stack (default true; false when it already exists)
  forceDestroyContainers  delete DR containers with their objects on destroy (default false)
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
import pulumi_openstack as openstack
import yaml

from govcloud.errors import UserError
from infra import catalog as catalog_mod
from infra.tenant import DR, PRIMARY, Shared, Tenant, exchange_rule_specs

REPO = Path(__file__).resolve().parent.parent


def _path(value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else REPO / p


def clouds_yaml_path(explicit: str | None) -> Path:
    candidates = [explicit, os.environ.get("OS_CLIENT_CONFIG_FILE"), "clouds.yaml",
                  "~/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml"]
    for c in candidates:
        if c and _path(c).is_file():
            return _path(c)
    raise UserError("clouds.yaml not found: set `pulumi config set govcloud:cloudsYaml PATH` or "
                    "OS_CLIENT_CONFIG_FILE (on the lab: `govcloud lab status` shows it)")


def cloud_auth(clouds_file: Path, cloud: str) -> dict:
    data = yaml.safe_load(clouds_file.read_text(encoding="utf-8")) or {}
    entry = (data.get("clouds") or {}).get(cloud)
    if not entry:
        raise UserError(f"{clouds_file}: no cloud {cloud!r}; set govcloud:cloud to one of "
                        f"{sorted(data.get('clouds') or {})}")
    return entry


def provider_args(entry: dict, region: str, project_id=None) -> dict:
    """Explicit provider settings from a clouds.yaml entry (password or application credential)."""
    auth = entry.get("auth", {})
    args: dict = {"auth_url": auth.get("auth_url"), "region": region}
    if entry.get("cacert"):
        args["cacert_file"] = entry["cacert"]
    if entry.get("verify") is False:
        args["insecure"] = True
    if auth.get("application_credential_id"):
        args["application_credential_id"] = auth["application_credential_id"]
        args["application_credential_secret"] = pulumi.Output.secret(auth.get("application_credential_secret", ""))
        return args
    args["user_name"] = auth.get("username")
    args["password"] = pulumi.Output.secret(auth.get("password", ""))
    args["user_domain_name"] = auth.get("user_domain_name") or auth.get("user_domain_id") or "Default"
    if project_id is not None:
        args["tenant_id"] = project_id
    else:
        if auth.get("project_id"):
            args["tenant_id"] = auth["project_id"]
        else:
            args["tenant_name"] = auth.get("project_name")
            args["project_domain_name"] = auth.get("project_domain_name") or "Default"
    return args


def ops_public_key(cfg: pulumi.Config) -> str:
    key = cfg.get("opsPublicKey")
    if key:
        return key.strip()
    path = cfg.get("opsPublicKeyFile")
    if not path and cfg.get_bool("opsKeyFromLab"):
        from govcloud.lab import hosts

        path = str(hosts.status()["ssh_key"]) + ".pub"
    if not path:
        raise UserError("no ops SSH key: set govcloud:opsPublicKey, govcloud:opsPublicKeyFile or "
                        "govcloud:opsKeyFromLab=true")
    p = _path(path)
    if not p.is_file():
        raise UserError(f"{p}: ops public key file not found (govcloud:opsPublicKeyFile); on the lab run "
                        "`govcloud lab hosts up` first")
    return p.read_text(encoding="utf-8").strip()


def run() -> dict:
    cfg = pulumi.Config("govcloud")
    catalog_dir = _path(cfg.get("catalogDir") or "infra/tenants")
    # Refuse to register anything while the catalog is invalid: this raises before any resource exists.
    cat = catalog_mod.load(catalog_dir)
    cloud = cat.cloud
    if cfg.get("cloudFile"):
        cloud = yaml.safe_load(_path(cfg.get("cloudFile")).read_text(encoding="utf-8"))

    cloud_name = cfg.get("cloud") or "govcloud-admin"
    entry = cloud_auth(clouds_yaml_path(cfg.get("cloudsYaml")), cloud_name)
    regions = {PRIMARY: cfg.get("primaryRegion") or PRIMARY, DR: cfg.get("drRegion") or DR}
    admin = {r: openstack.Provider(r, **provider_args(entry, regions[r])) for r in (PRIMARY, DR)}
    inv = pulumi.InvokeOptions(provider=admin[PRIMARY])

    scope = openstack.identity.get_auth_scope(name="govcloud", opts=inv)
    domain = openstack.identity.get_project(name=cloud["domain"], is_domain=True, opts=inv)
    security_role = cfg.get("securityRole") or "security_admin"
    duty_roles = dict(cloud["duty_roles"])
    duty_roles["security_admin"] = security_role
    cloud = {**cloud, "duty_roles": duty_roles}
    create_role = cfg.get_bool("createSecurityRole") is not False
    role_ids = {}
    for role in sorted({"admin", "member", *duty_roles.values()}):
        if role == security_role and create_role:
            continue
        role_ids[role] = openstack.identity.get_role(name=role, opts=inv).id
    if create_role:
        role_ids[security_role] = openstack.identity.Role(
            "govcloud-security-role", name=security_role,
            opts=pulumi.ResourceOptions(provider=admin[PRIMARY])).id
    external = {r: openstack.networking.get_network(
        name=cloud["external_network"], external=True, region=regions[r],
        opts=pulumi.InvokeOptions(provider=admin[r])).id for r in (PRIMARY, DR)}

    def tenant_provider(tid, project, region, depends_on, parent):
        return openstack.Provider(f"{tid}-{region}", opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
                                  **provider_args(entry, regions[region], project_id=project.id))

    shared = Shared(admin=admin, tenant_provider=tenant_provider, cloud=cloud, domain_id=domain.id,
                    admin_user_id=scope.user_id, role_ids=role_ids, external_network_ids=external,
                    ops_public_key=ops_public_key(cfg) if any(t["servers"] for t in cat.tenants) else "",
                    force_destroy_containers=bool(cfg.get_bool("forceDestroyContainers")),
                    region_names=regions)
    components = {t["id"]: Tenant(t, shared) for t in cat.tenants}

    for x in exchange_rule_specs(cat.tenants):
        dst = components[x["to"]]
        openstack.networking.SecGroupRule(
            x["name"], region=regions[PRIMARY], security_group_id=dst.security_groups[x["to_zone"]].id,
            direction="ingress", ethertype="IPv4", protocol=x["protocol"], port_range_min=x["port"],
            port_range_max=x["port"], remote_ip_prefix=x["cidr"],
            description=f"exchange link {x['from']} -> {x['to']}:{x['to_zone']} (declared by {x['from']})",
            opts=pulumi.ResourceOptions(parent=dst, provider=dst.providers[PRIMARY]))

    tenants_out = {tid: c.summary() for tid, c in components.items()}
    pulumi.export("tenants", tenants_out)
    pulumi.export("hosts", [h for c in components.values() for h in c.hosts])
    pulumi.export("levels", {tid: c.level for tid, c in components.items()})
    pulumi.export("backup_targets", {tid: c.backup for tid, c in components.items()})
    pulumi.export("backup_secrets", pulumi.Output.secret({tid: c.backup_secret for tid, c in components.items()}))
    pulumi.export("regions", regions)
    return components
