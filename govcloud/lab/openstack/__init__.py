"""The lab's two-region OpenStack (regions `primary` and `dr`) on 127.0.0.1, from PyPI.

API: `up()` (idempotent, returns when usable), `down()`, `reset()`, `status()`. See docs/lab.md.
"""

from govcloud.lab.openstack.core import down, reset, status, up

__all__ = ["up", "down", "reset", "status"]
