"""Cinder volume driver for the lab: cinder's fake logging driver, plus image copies without sudo/qemu-img.

Volume-from-image is answered as a "clone" (nothing to download); upload-to-image sends a small marker
payload to Glance so the image turns active.
"""

import io

from cinder.tests import fake_driver


class LabVolumeDriver(fake_driver.FakeLoggingVolumeDriver):
    def clone_image(self, context, volume, image_location, image_meta, image_service):
        return {"provider_location": None}, True

    def copy_image_to_volume(self, context, volume, image_service, image_id, disable_sparse=False):
        return None

    def copy_volume_to_image(self, context, volume, image_service, image_meta):
        payload = f"govcloud-lab volume {volume['id']}\n".encode()
        image_service.update(context, image_meta["id"], {}, io.BytesIO(payload), purge_props=False)
