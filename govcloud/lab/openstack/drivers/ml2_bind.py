"""ML2 mechanism driver `govcloud_bind`: binds every port without any agent (the lab has no data plane).

Ports get vif_type "ovs" on the first segment offered, so Nova's fake driver can "plug" them and the
port turns ACTIVE. Router/gateway ports of the agentless L3 plugin are never bound to a host and stay DOWN.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindEverythingDriver(api.MechanismDriver):
    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
