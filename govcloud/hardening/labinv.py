"""Inventories and ssh_config files for throwaway lab hosts (tests, benchmarks, demo)."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_inventory(directory: Path, hosts: dict[str, dict], status: dict) -> Path:
    """hosts: {name: {"address": ..., **extra host vars}}; status: govcloud.lab.hosts.status()."""
    common = (f"-o UserKnownHostsFile={status['known_hosts']} -o StrictHostKeyChecking=yes "
              "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes")
    inv = {"all": {"hosts": {}}}
    for name, info in hosts.items():
        hv = {"ansible_host": info["address"], "ansible_user": "root",
              "ansible_ssh_private_key_file": status["ssh_key"], "ansible_ssh_common_args": common,
              "ansible_python_interpreter": "/usr/bin/python3", "lab_shared_kernel": True,
              "mlps_mgmt_cidrs": ["10.250.0.0/24"]}
        hv.update({k: v for k, v in info.items() if k != "address"})
        inv["all"]["hosts"][name] = hv
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "inventory.yml"
    path.write_text(yaml.safe_dump(inv, sort_keys=True), encoding="utf-8")
    return path


def write_ssh_config(directory: Path, hosts: dict[str, str], status: dict) -> Path:
    """hosts: {name: address}. ControlMaster keeps testinfra's many commands on one connection."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, address in hosts.items():
        lines += [f"Host {name}", f"  HostName {address}", "  User root", f"  IdentityFile {status['ssh_key']}",
                  "  IdentitiesOnly yes", f"  UserKnownHostsFile {status['known_hosts']}",
                  "  GlobalKnownHostsFile /dev/null", "  StrictHostKeyChecking yes", "  BatchMode yes",
                  "  ConnectTimeout 10", "  ControlMaster auto", f"  ControlPath {directory}/cm-%C",
                  "  ControlPersist 60", ""]
    path = directory / "ssh_config"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
