"""Drivers loaded by the lab's OpenStack services (not by govcloud itself).

`govcloud.lab.openstack` copies this package as `govcloud_lab_drivers` onto the services' PYTHONPATH,
together with an entry point for the ML2 mechanism driver. The modules import only OpenStack code.
"""
