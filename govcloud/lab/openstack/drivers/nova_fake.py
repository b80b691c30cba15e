"""Nova compute driver for the lab: nova's FakeDriver with stable node UUIDs.

Installed as nova/virt/govcloud_lab_fake.py in the services' venv (nova loads drivers only from there).

The upstream fake driver derives node UUIDs from a per-process sentinel, so a restarted nova-compute
finds "its" compute node under another UUID and refuses to start (duplicate record). Here the UUID is
derived from the node name, and it is also the node identity nova expects in <state_path>/compute_id.
"""

import uuid

from nova.virt import fake

NAMESPACE = uuid.UUID("6f1c3a52-93a4-4c55-9b0e-5a8d2f0c7e11")


def node_uuid(nodename):
    return str(uuid.uuid5(NAMESPACE, nodename))


class LabFakeDriver(fake.FakeDriver):
    def get_available_resource(self, nodename):
        res = super().get_available_resource(nodename)
        res["uuid"] = node_uuid(nodename)
        return res

    def get_nodenames_by_uuid(self, refresh=False):
        return {node_uuid(n): n for n in self.get_available_nodes()}
