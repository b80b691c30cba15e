"""Figures of the lab's OpenStack: services, processes, PSS per region, `status()` and no-op `up()` times.

`--cycle` also measures `down()` and the warm `up()` after it (disruptive: the shared lab is down ~2 min).
Starts the lab if it is not running (and says so).
"""

from __future__ import annotations

import sys
import time

from govcloud.lab import openstack


def timed(fn):
    t = time.monotonic()
    out = fn()
    return out, time.monotonic() - t


def main() -> int:
    st, took = timed(openstack.status)
    if st["state"] != "up":
        print(f"lab state {st['state']}: starting it")
        st, took_up = timed(openstack.up)
        print(f"up (from {st['state']}): {took_up:.0f} s")
    st, took = timed(openstack.status)
    print(f"status(): {took * 1000:.0f} ms")
    print(f"services: {len(st['services'])}, processes: {st.get('processes')}")
    print(f"memory PSS: {st['memory_mib']} MiB total, by region {st['memory_by_region']}")
    _, took = timed(openstack.up)
    print(f"up() on a running lab (no-op + readiness checks): {took:.1f} s")
    if "--cycle" in sys.argv:
        _, took = timed(openstack.down)
        print(f"down(): {took:.1f} s")
        st, took = timed(openstack.up)
        print(f"warm up() after down: {took:.0f} s (state {st['state']}, {st['memory_mib']} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
