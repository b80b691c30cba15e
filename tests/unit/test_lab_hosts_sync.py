"""sync() against a fake openstacksdk connection: which servers get hosts, with what address/keys/vars."""

from types import SimpleNamespace

import pytest

from govcloud.lab.hosts import cloudsync as sync


class FakeCompute:
    def __init__(self, servers, keypairs):
        self._servers = servers
        self._keypairs = keypairs
        self.keypair_calls = []

    def servers(self, details=True, all_projects=False):
        assert all_projects, "sync must list the servers of every project"
        return list(self._servers)

    def get_keypair(self, name, user_id=None):
        self.keypair_calls.append((name, user_id))
        if (name, user_id) not in self._keypairs:
            raise LookupError("no such key pair")
        return SimpleNamespace(public_key=self._keypairs[(name, user_id)])


class FakeNetwork:
    def __init__(self, subnets, ports=None):
        self._subnets = subnets
        self._ports = ports or {}

    def subnets(self):
        return list(self._subnets)

    def ports(self, device_id=None):
        return self._ports.get(device_id, [])


def server(id, name, ip, status="ACTIVE", key="k1", user="u1", md=None, addresses=None):
    return SimpleNamespace(
        id=id, name=name, status=status, key_name=key, user_id=user, project_id="p1",
        metadata=md if md is not None else {"tenant": "wjw", "department": "卫健委", "zone": "app",
                                            "mlps_level": "2"},
        addresses=addresses if addresses is not None else
        {"wjw-app": [{"addr": ip, "version": 4, "OS-EXT-IPS:type": "fixed"},
                     {"addr": "172.24.4.10", "version": 4, "OS-EXT-IPS:type": "floating"}]})


def conn(servers, subnets=None, keypairs=None, ports=None):
    subnets = subnets if subnets is not None else [
        SimpleNamespace(cidr="10.31.1.0/24", gateway_ip="10.31.1.1", ip_version=4),
        SimpleNamespace(cidr="10.30.0.0/24", gateway_ip=None, ip_version=4),
        SimpleNamespace(cidr="172.24.4.0/24", gateway_ip="172.24.4.1", ip_version=4),
    ]
    keypairs = keypairs if keypairs is not None else {("k1", "u1"): "ssh-ed25519 AAAAC3 server-key"}
    return SimpleNamespace(compute=FakeCompute(servers, keypairs), network=FakeNetwork(subnets, ports))


def test_collect_active_servers_with_fixed_ip_subnet_gateway_and_key():
    c = conn([server("a1b2c3d4-0000", "wjw-his-1", "10.31.1.5"),
              server("ffff0000-1111", "wjw-his-2", "10.31.1.6", status="SHUTOFF")])
    specs = sync.collect(c)
    assert [s.name for s in specs] == ["wjw-his-1"]
    s = specs[0]
    assert (s.fixed_ip, s.cidr, s.gateway) == ("10.31.1.5", "10.31.1.0/24", "10.31.1.1")
    assert s.public_key == "ssh-ed25519 AAAAC3 server-key"
    assert c.compute.keypair_calls == [("k1", "u1")]  # fetched by name + owner
    assert s.host_name == "srv-a1b2c3d40000"
    assert s.hostname == "wjw-his-1"
    hv = s.hostvars()
    assert hv["tenant"] == "wjw" and hv["zone"] == "app" and hv["mlps_level"] == 2


def test_subnet_without_gateway_gets_first_free_address_and_missing_keypair_is_tolerated():
    c = conn([server("s2", "gaj-db-1", "10.30.0.1", key="gone")])
    (s,) = sync.collect(c)
    assert s.gateway == "10.30.0.2"  # .1 is the server itself
    assert s.public_key is None


def test_ports_used_when_addresses_are_empty_and_non_tenant_ips_ignored():
    ports = {"s3": [SimpleNamespace(fixed_ips=[{"ip_address": "10.31.1.9", "subnet_id": "x"}])]}
    c = conn([server("s3", "a", None, addresses={}),
              server("s4", "b", None, addresses={"pub": [{"addr": "172.24.4.20", "version": 4}]})],
             ports=ports)
    assert [(s.id, s.fixed_ip) for s in sync.collect(c)] == [("s3", "10.31.1.9")]


def test_inventory_names_are_unique_across_tenants():
    specs = [sync.ServerSpec("id-aaaaaa1", "web", "p", "10.31.1.5", "10.31.1.0/24", "10.31.1.1"),
             sync.ServerSpec("id-bbbbbb2", "web", "p", "10.30.0.5", "10.30.0.0/24", "10.30.0.1"),
             sync.ServerSpec("id-cccccc3", "db", "p", "10.30.0.6", "10.30.0.0/24", "10.30.0.1")]
    names = sync._inventory_names(specs)
    assert names["id-cccccc3"] == "db"
    assert names["id-aaaaaa1"] != names["id-bbbbbb2"] and all(n.startswith("web-") for n in
                                                              (names["id-aaaaaa1"], names["id-bbbbbb2"]))


def test_bridge_names_fit_the_kernel_limit_and_differ_per_subnet():
    a, b = sync.bridge_name("10.31.1.0/24"), sync.bridge_name("10.31.2.0/24")
    assert a != b and len(a) <= 15 and a.startswith("gcs")


def test_connect_refuses_when_openstack_lab_is_down(monkeypatch):
    from govcloud.errors import UserError
    from govcloud.lab import openstack

    monkeypatch.setattr(openstack, "status", lambda: {"state": "down", "clouds_yaml": "/nonexistent"})
    with pytest.raises(UserError, match="OpenStack lab"):
        sync.connect()
