"""One department tenant as a Pulumi ComponentResource.

Everything the catalog entry says becomes a child of the component: Keystone project, groups for the
three admin duties, quotas, networks/subnets/router per zone, baseline security groups, server
groups, servers, volumes, DR-region containers and the backup agents' application credential.
Resource names (logical and OpenStack) start with "<id>-" so policies and operators can tell whose
a resource is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_openstack as openstack

PRIMARY, DR = "primary", "dr"


@dataclass
class Shared:
    """What every tenant needs from the stack: providers, ids looked up once, the cloud description."""

    admin: dict[str, pulumi.ProviderResource]          # region -> admin-scoped provider
    tenant_provider: object                            # callable(tenant_id, project, region, depends_on) -> provider
    cloud: dict
    domain_id: pulumi.Input[str]
    admin_user_id: pulumi.Input[str]
    role_ids: dict[str, pulumi.Input[str]]             # role name -> id
    external_network_ids: dict[str, pulumi.Input[str]]  # region -> id of the external network
    ops_public_key: str
    force_destroy_containers: bool = False
    region_names: dict[str, str] = field(default_factory=lambda: {PRIMARY: PRIMARY, DR: DR})


def metadata(t: dict, **extra) -> dict[str, str]:
    md = {"department": t["name"], "mlps_level": str(t["mlps_level"]), "owner": t["owner"],
          "data_location": t["data_location"], "tenant": t["id"]}
    md.update({k: str(v) for k, v in extra.items()})
    return md


def project_tags(t: dict) -> list[str]:
    # Keystone tags: <= 255 chars, no "/" or ","; key=value so policies and inventories can read them.
    tags = [f"department={t['name']}", f"mlps_level={t['mlps_level']}", f"owner={t['owner']}",
            f"data_location={t['data_location']}", f"credit_code={t['credit_code']}",
            f"backup_class={t['backup_class']}", f"quota_class={t['quota_class']}", "managed_by=govcloud"]
    return [x.replace("/", "-").replace(",", " ")[:255] for x in tags]


def sg_rule_specs(t: dict, cloud: dict) -> dict[str, list[dict]]:
    """zone name -> ingress rules {name, protocol, port|None, cidr}; nothing wider than declared."""
    ops = cloud["ops_cidr"]
    by_kind: dict[str, list[dict]] = {}
    for z in t["zones"]:
        by_kind.setdefault(z["kind"], []).append(z)
    out: dict[str, list[dict]] = {}
    for z in t["zones"]:
        rules = [{"name": f"{t['id']}-{z['name']}-ssh-ops", "protocol": "tcp", "port": 22, "cidr": ops},
                 {"name": f"{t['id']}-{z['name']}-icmp-ops", "protocol": "icmp", "port": None, "cidr": ops}]
        for spec in cloud.get("zone_kinds", {}).get(z["kind"], {}).get("ingress", []):
            if spec["from"] == "extranet":
                sources = [("extranet", cloud["extranet_cidr"])]
            else:
                sources = [(src["name"], src["cidr"]) for src in by_kind.get(spec["from"], [])
                           if src["name"] != z["name"]]
            for src_name, cidr in sources:
                for port in spec["ports"]:
                    rules.append({"name": f"{t['id']}-{z['name']}-{spec['protocol']}{port}-from-{src_name}",
                                  "protocol": spec["protocol"], "port": port, "cidr": cidr})
        out[z["name"]] = rules
    return out


def exchange_rule_specs(tenants: list[dict]) -> list[dict]:
    """Ingress rules in the receiving tenant's zone SG for each declared exchange link, one per port."""
    by_id = {t["id"]: t for t in tenants}
    out = []
    for src in tenants:
        for link in src.get("exchange", []):
            dst = by_id[link["to"]]
            cidr = next(z["cidr"] for z in src["zones"] if z["name"] == link["from_zone"])
            for port in link["ports"]:
                out.append({"name": f"{dst['id']}-{link['to_zone']}-x-{src['id']}-{link['from_zone']}-{link['protocol']}{port}",
                            "to": dst["id"], "to_zone": link["to_zone"], "from": src["id"],
                            "protocol": link["protocol"], "port": port, "cidr": cidr})
    return out


def server_names(t: dict) -> list[tuple[dict, int, str]]:
    return [(s, n, f"{t['id']}-{s['name']}-{n}") for s in t["servers"] for n in range(1, s["count"] + 1)]


class Tenant(pulumi.ComponentResource):
    """A department's tenant. Outputs: project_id, hosts, backup, level."""

    def __init__(self, t: dict, shared: Shared, opts: pulumi.ResourceOptions | None = None):
        tid = t["id"]
        super().__init__("govcloud:tenants:Tenant", tid, None, opts)
        self.t = t
        self.security_groups: dict[str, openstack.networking.SecGroup] = {}
        admin = shared.admin[PRIMARY]
        region = shared.region_names
        A = lambda **kw: pulumi.ResourceOptions(parent=self, provider=admin, **kw)  # noqa: E731

        project = openstack.identity.Project(
            f"{tid}-project", name=tid, domain_id=shared.domain_id,
            description=f"{t['name']} ({t['name_en']}); MLPS level {t['mlps_level']}; credit code {t['credit_code']}",
            tags=project_tags(t), opts=A())
        self.project = project

        # The stack's admin user works inside the project (scoped token) to create its resources.
        admin_roles = [openstack.identity.RoleAssignment(
            f"{tid}-ops-{role}", project_id=project.id, user_id=shared.admin_user_id,
            role_id=shared.role_ids[role], opts=A()) for role in ("admin", "member")]

        # Three separated admin duties: one group each, each with its own role.
        for duty, role in shared.cloud["duty_roles"].items():
            contact = next(c for c in t["contacts"] if c["duty"] == duty)
            group = openstack.identity.GroupV3(
                f"{tid}-{duty}", name=f"{tid}-{duty}", domain_id=shared.domain_id,
                description=f"{t['name']} {duty}: {contact['name']} {contact['email']}", opts=A())
            openstack.identity.RoleAssignment(
                f"{tid}-{duty}-{role}", project_id=project.id, group_id=group.id,
                role_id=shared.role_ids[role], opts=A())

        q = t["quota"]
        openstack.compute.QuotaSetV2(
            f"{tid}-quota-compute", project_id=project.id, region=region[PRIMARY],
            instances=q.get("instances"), cores=q.get("cores"), ram=q.get("ram_mb"),
            server_groups=q.get("server_groups"), server_group_members=q.get("instances"),
            key_pairs=q.get("key_pairs"), opts=A())
        openstack.blockstorage.QuoteSetV3(
            f"{tid}-quota-volume", project_id=project.id, region=region[PRIMARY],
            volumes=q.get("volumes"), gigabytes=q.get("gigabytes"), snapshots=q.get("snapshots"),
            opts=A())
        openstack.networking.QuotaV2(
            f"{tid}-quota-network", project_id=project.id, region=region[PRIMARY],
            network=q.get("networks"), subnet=q.get("subnets"), router=q.get("routers"), port=q.get("ports"),
            security_group=q.get("security_groups"), security_group_rule=q.get("security_group_rules"),
            opts=A())

        tp = {r: shared.tenant_provider(tid, project, r, admin_roles, self)
              for r in (PRIMARY, DR)}
        self.providers = tp
        T = lambda r=PRIMARY, **kw: pulumi.ResourceOptions(parent=self, provider=tp[r], **kw)  # noqa: E731

        # Networks: one per zone and region, a router per region to the external network.
        self.networks: dict[tuple[str, str], openstack.networking.Network] = {}
        for r in (PRIMARY, DR):
            zones = [z for z in t["zones"] if r in z.get("regions", [PRIMARY])]
            if not zones:
                continue
            sfx = "" if r == PRIMARY else "-dr"
            router = openstack.networking.Router(
                f"{tid}-router{sfx}", name=f"{tid}-router{sfx}", region=region[r],
                external_network_id=shared.external_network_ids[r], tags=[f"tenant={tid}"], opts=T(r))
            for z in zones:
                name = f"{tid}-{z['name']}{sfx}"
                tags = [f"tenant={tid}", f"zone={z['name']}", f"zone_kind={z['kind']}", f"mlps_level={t['mlps_level']}"]
                net = openstack.networking.Network(name, name=name, region=region[r], admin_state_up=True,
                                                   tags=tags, opts=T(r))
                subnet = openstack.networking.Subnet(
                    name, name=name, region=region[r], network_id=net.id, cidr=z["cidr"], ip_version=4,
                    tags=tags, opts=T(r))
                openstack.networking.RouterInterface(name, region=region[r], router_id=router.id,
                                                     subnet_id=subnet.id, opts=T(r))
                self.networks[(r, z["name"])] = net

        # Baseline security groups: one per zone, ingress only from the declared sources.
        kinds = {z["name"]: z["kind"] for z in t["zones"]}
        for zone, rules in sg_rule_specs(t, shared.cloud).items():
            name = f"{tid}-{zone}"
            sg = openstack.networking.SecGroup(
                name, name=name, region=region[PRIMARY],
                description=f"{t['name']} {kinds[zone]} zone {zone} baseline",
                tags=[f"tenant={tid}", f"zone={zone}", f"zone_kind={kinds[zone]}"], opts=T())
            self.security_groups[zone] = sg
            for rule in rules:
                openstack.networking.SecGroupRule(
                    rule["name"], region=region[PRIMARY], security_group_id=sg.id, direction="ingress",
                    ethertype="IPv4", protocol=rule["protocol"], port_range_min=rule["port"],
                    port_range_max=rule["port"], remote_ip_prefix=rule["cidr"],
                    description=f"managed by govcloud: {rule['name']}", opts=T())

        keypair = None
        if t["servers"]:
            keypair = openstack.compute.Keypair(f"{tid}-ops", name=f"{tid}-ops", region=region[PRIMARY],
                                                public_key=shared.ops_public_key, opts=T(delete_before_replace=True))

        groups: dict[str, openstack.compute.ServerGroup] = {}
        if t["mlps_level"] == 3:
            for s in t["servers"]:
                groups[s["name"]] = openstack.compute.ServerGroup(
                    f"{tid}-{s['name']}", name=f"{tid}-{s['name']}", region=region[PRIMARY],
                    policies="anti-affinity", opts=T())

        hosts = []
        for s, _n, name in server_names(t):
            server_md = metadata(t, zone=s["zone"], zone_kind=kinds[s["zone"]], role=f"{tid}-{s['name']}")
            kwargs = {}
            if s["name"] in groups:
                kwargs["scheduler_hints"] = [openstack.compute.InstanceSchedulerHintArgs(group=groups[s["name"]].id)]
            inst = openstack.compute.Instance(
                name, name=name, region=region[PRIMARY], flavor_name=s["flavor"], image_name=s["image"],
                key_pair=keypair.name, security_groups=[self.security_groups[s["zone"]].name],
                networks=[openstack.compute.InstanceNetworkArgs(uuid=self.networks[(PRIMARY, s["zone"])].id)],
                metadata=server_md, opts=T(depends_on=[self.security_groups[s["zone"]]]), **kwargs)
            for v in s["volumes"]:
                vol = openstack.blockstorage.Volume(
                    f"{name}-{v['name']}", name=f"{name}-{v['name']}", region=region[PRIMARY],
                    size=v["size_gb"], volume_type=v["type"], metadata=metadata(t, server=name),
                    opts=T())
                openstack.compute.VolumeAttach(f"{name}-{v['name']}", region=region[PRIMARY],
                                               instance_id=inst.id, volume_id=vol.id, opts=T())
            hosts.append({"name": name, "address": inst.access_ip_v4, "zone": s["zone"],
                          "zone_kind": kinds[s["zone"]], "level": t["mlps_level"], "role": s["name"],
                          "tenant": tid, "id": inst.id})

        # Backups live in the DR region: one container for the agents plus the declared ones.
        containers = [("backup", max(1, t["quota"].get("gigabytes", 100)))] + \
            [(o["name"], o["quota_gb"]) for o in t["object_storage"]]
        names = []
        for cname, quota_gb in containers:
            full = f"{tid}-{cname}"
            openstack.objectstorage.Container(
                full, name=full, region=region[DR], versioning=True,
                force_destroy=shared.force_destroy_containers,
                metadata={"quota-bytes": str(quota_gb * 1024 ** 3), "department": t["id"],
                          "mlps-level": str(t["mlps_level"]), "backup-class": t["backup_class"]},
                opts=T(DR, delete_before_replace=True))
            names.append(full)

        # member (+ reader, which Keystone implies and reports back: listing it keeps refresh clean)
        cred = openstack.identity.ApplicationCredential(
            f"{tid}-backup-agent", name=f"{tid}-backup-agent", region=region[PRIMARY],
            description=f"restic agents of {t['name']}: object storage in {region[DR]}",
            roles=["member", "reader"],
            opts=T(additional_secret_outputs=["secret"], delete_before_replace=True))

        self.hosts = hosts
        # The secret is exported on its own: a secret inside a map would make the whole map secret.
        self.backup_secret = pulumi.Output.secret(cred.secret)
        self.backup = {"region": region[DR], "containers": names, "app_credential_id": cred.id,
                       "backup_class": t["backup_class"], **{k: v for k, v in t["backup"].items()
                                                              if k in ("rpo_s", "rto_s", "copies", "sites")}}
        self.level = t["mlps_level"]
        self.register_outputs({"project_id": project.id, "hosts": hosts, "level": self.level})

    def summary(self) -> dict:
        t = self.t
        return {"id": t["id"], "name": t["name"], "name_en": t["name_en"], "level": t["mlps_level"],
                "owner": t["owner"], "data_location": t["data_location"], "project_id": self.project.id,
                "zones": [{"name": z["name"], "kind": z["kind"], "cidr": z["cidr"]} for z in t["zones"]],
                "hosts": self.hosts, "backup": self.backup}
