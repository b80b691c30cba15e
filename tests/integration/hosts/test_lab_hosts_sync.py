"""sync(): a server created with openstacksdk in the lab cloud becomes SSH-reachable at its fixed IP (with
its own key pair, hostname = server name); once the server is deleted, sync removes the host."""

import subprocess
import time
import uuid

import pytest
import yaml

from govcloud.lab import hosts
from govcloud.lab.hosts import cloudsync, core

pytestmark = [pytest.mark.hosts, pytest.mark.lab]
CIDR = "10.30.251.0/24"  # inside 10.16.0.0/12, outside the seed catalog's tenant ranges


def ssh_as_server_key(key, address, cmd):
    return subprocess.run(["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                           "-o", f"UserKnownHostsFile={core.known_hosts_path()}", "-o",
                           "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", f"root@{address}", cmd],
                          capture_output=True, text=True, timeout=60)


def wait_gone(conn, server_id, timeout=120):
    deadline = time.monotonic() + timeout
    while conn.compute.find_server(server_id, ignore_missing=True, all_projects=True) is not None:
        assert time.monotonic() < deadline, "server not deleted"
        time.sleep(1)


def test_server_gets_a_lab_host_and_loses_it_when_deleted(openstack_lab, lab_hosts, tmp_path):
    conn = cloudsync.connect()
    tag = uuid.uuid4().hex[:6]
    name = f"lhsync-{tag}-web"
    key = tmp_path / "server_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    net = subnet = kp = srv = None
    try:
        net = conn.network.create_network(name=f"lhsync-{tag}")
        subnet = conn.network.create_subnet(network_id=net.id, name=f"lhsync-{tag}", ip_version=4, cidr=CIDR,
                                            gateway_ip="10.30.251.1", enable_dhcp=False)
        kp = conn.compute.create_keypair(name=f"lhsync-{tag}", public_key=key.with_suffix(".pub").read_text())
        flavor = conn.compute.find_flavor("gc.small")
        image = conn.image.find_image("debian-12-hardened")
        srv = conn.compute.create_server(name=name, flavor_id=flavor.id, image_id=image.id,
                                         networks=[{"uuid": net.id}], key_name=kp.name,
                                         metadata={"tenant": "lhsync", "zone": "app", "mlps_level": "2"})
        srv = conn.compute.wait_for_server(srv, status="ACTIVE", wait=180)
        ip = next(a["addr"] for addrs in srv.addresses.values() for a in addrs if a.get("version", 4) == 4)
        assert ip.startswith("10.30.251.")

        out = hosts.sync()
        assert name in out["added"]
        r = ssh_as_server_key(key, ip, "hostname; cut -d. -f1 /etc/debian_version")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [name, "12"]
        inv = yaml.safe_load(core.inventory_path().read_text())
        hv = inv["all"]["children"]["lab"]["children"]["lab_servers"]["hosts"][name]
        assert hv["ansible_host"] == ip and hv["mlps_level"] == 2 and hv["tenant"] == "lhsync"
        assert hv["zone"] == "app"
        # the DR sites are reachable from the server over its backup network (the machine does not route)
        sc = hosts.sites()["samecity"]
        assert hv["lab_backup_address"].startswith("10.250.0.")
        r = ssh_as_server_key(key, ip, f"timeout 10 bash -c '</dev/tcp/{sc['address']}/{sc['port']}' && echo reachable")
        assert r.stdout.strip() == "reachable", r.stderr
        assert hosts.sync()["added"] == []  # idempotent

        conn.compute.delete_server(srv)
        wait_gone(conn, srv.id)
        srv = None
        out = hosts.sync()
        assert name in out["removed"]
        assert name not in yaml.safe_load(core.inventory_path().read_text()).__repr__()
        assert ssh_as_server_key(key, ip, "true").returncode != 0
    finally:
        if srv is not None:
            conn.compute.delete_server(srv, ignore_missing=True)
            wait_gone(conn, srv.id)
        if kp is not None:
            conn.compute.delete_keypair(kp, ignore_missing=True)
        if subnet is not None:
            conn.network.delete_subnet(subnet, ignore_missing=True)
        if net is not None:
            conn.network.delete_network(net, ignore_missing=True)
        hosts.sync()
