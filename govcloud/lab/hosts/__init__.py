"""SSH lab hosts and DR sites: systemd-nspawn containers (systemd as init) on bridge gclab0 (10.250.0.0/24),
booted from one cached Debian 12 rootfs shared read-only through overlayfs. See docs/lab-hosts.md.

Public API (the shared-lab contract): up, down, status, sync, add_host, remove_host, run, ssh_argv, sites,
site_user. Faults live in govcloud.lab.faults.
"""

from __future__ import annotations

from govcloud.lab.hosts.core import run, ssh_argv
from govcloud.lab.hosts.lab import add_host, down, remove_host, status, up
from govcloud.lab.hosts.sites import site_user, sites


def sync() -> dict:
    """Give every ACTIVE server of the lab cloud a lab host at its fixed IP; remove hosts of gone servers."""
    from govcloud.lab.hosts import cloudsync

    return cloudsync.sync()


__all__ = ["up", "down", "status", "sync", "add_host", "remove_host", "run", "ssh_argv", "sites", "site_user"]
