"""The local lab: a two-region OpenStack on loopback (openstack/), SSH hosts and DR sites (hosts/), faults."""
