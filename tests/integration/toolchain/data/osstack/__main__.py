"""Throwaway stack on the lab through our OpenStack provider: one resource of each type the tenants
program uses (small: no server boot unless config `instance` is true), so the token map is proven."""

import pulumi
import pulumi_openstack as os_

cfg = pulumi.Config()
prefix = cfg.get("prefix") or "citest-tc"
with_instance = cfg.get_bool("instance") or False

project = os_.identity.Project(f"{prefix}-project", name=f"{prefix}-project", domain_id=cfg.get("domain_id"))
group = os_.identity.GroupV3(f"{prefix}-group", name=f"{prefix}-admins", domain_id=cfg.get("domain_id"))
role = os_.identity.get_role(name="member")
os_.identity.RoleAssignment(f"{prefix}-ra", project_id=project.id, group_id=group.id, role_id=role.id)
os_.identity.ApplicationCredential(f"{prefix}-appcred", name=f"{prefix}-appcred", roles=["admin"])

net = os_.networking.Network(f"{prefix}-net", name=f"{prefix}-net", tenant_id=project.id)
subnet = os_.networking.Subnet(f"{prefix}-subnet", name=f"{prefix}-subnet", network_id=net.id,
                               cidr="10.31.250.0/24", ip_version=4, tenant_id=project.id)
public = os_.networking.get_network(name="public")
router = os_.networking.Router(f"{prefix}-router", name=f"{prefix}-router", external_network_id=public.id,
                               tenant_id=project.id)
os_.networking.RouterInterface(f"{prefix}-ri", router_id=router.id, subnet_id=subnet.id)
# In the stack's (admin) project, so the test instance below can use it by name.
sg = os_.networking.SecGroup(f"{prefix}-sg", name=f"{prefix}-sg", delete_default_rules=True)
os_.networking.SecGroupRule(f"{prefix}-sgr", security_group_id=sg.id, direction="ingress", ethertype="IPv4",
                            protocol="tcp", port_range_min=443, port_range_max=443,
                            remote_ip_prefix="10.31.250.0/24")
os_.networking.RbacPolicyV2(f"{prefix}-rbac", action="access_as_shared", object_id=net.id,
                            object_type="network", target_tenant=project.id)
os_.networking.QuotaV2(f"{prefix}-netquota", project_id=project.id, network=5, subnet=5, router=2,
                       port=50, security_group=10, security_group_rule=100, floatingip=2)
os_.compute.QuotaSetV2(f"{prefix}-cquota", project_id=project.id, instances=4, cores=8, ram=8192,
                       key_pairs=10, server_groups=5, server_group_members=10)
os_.blockstorage.QuoteSetV3(f"{prefix}-bquota", project_id=project.id, volumes=4, gigabytes=40, snapshots=4)
sgroup = os_.compute.ServerGroup(f"{prefix}-sgroup", name=f"{prefix}-sgroup", policies="soft-anti-affinity")
key = os_.compute.Keypair(f"{prefix}-key", name=f"{prefix}-key",
                          public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlkZ2Rx3m0W8lNcJ4aXKp5m2yQb2w1Xq7y9r1o2t3u4 test")
vol = os_.blockstorage.Volume(f"{prefix}-vol", name=f"{prefix}-vol", size=1, volume_type="standard")
container = os_.objectstorage.Container(f"{prefix}-bucket", name=f"{prefix}-bucket")
pulumi.export("network_id", net.id)
pulumi.export("project_id", project.id)
pulumi.export("container", container.name)

if with_instance:
    flavor = os_.compute.get_flavor(name="gc.small")
    image = os_.images.get_image(name="debian-12-hardened", most_recent=True)
    inst = os_.compute.Instance(f"{prefix}-vm", name=f"{prefix}-vm", flavor_id=flavor.id, image_id=image.id,
                                key_pair=key.name, security_groups=[sg.name],
                                scheduler_hints=[{"group": sgroup.id}],
                                networks=[{"uuid": net.id}], opts=pulumi.ResourceOptions(depends_on=[subnet]))
    os_.compute.VolumeAttach(f"{prefix}-attach", instance_id=inst.id, volume_id=vol.id)
    pulumi.export("instance_id", inst.id)
