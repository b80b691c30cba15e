"""Our OpenStack provider against the shared lab: a throwaway stack with one resource of every type the
tenants program uses (identity, networking, quotas, compute, block storage, object storage), a no-change
preview after `up` (the SDK's property names round-trip through the bridge), then destroy."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from govcloud import paths, toolchain

DATA = Path(__file__).parent / "data" / "osstack"
STACK = "citest-toolchain"
TYPES = {
    "openstack:identity/project:Project", "openstack:identity/groupV3:GroupV3",
    "openstack:identity/roleAssignment:RoleAssignment",
    "openstack:identity/applicationCredential:ApplicationCredential",
    "openstack:networking/network:Network", "openstack:networking/subnet:Subnet",
    "openstack:networking/router:Router", "openstack:networking/routerInterface:RouterInterface",
    "openstack:networking/secGroup:SecGroup", "openstack:networking/secGroupRule:SecGroupRule",
    "openstack:networking/rbacPolicyV2:RbacPolicyV2", "openstack:networking/quotaV2:QuotaV2",
    "openstack:compute/quotaSetV2:QuotaSetV2", "openstack:blockstorage/quoteSetV3:QuoteSetV3",
    "openstack:compute/serverGroup:ServerGroup", "openstack:compute/keypair:Keypair",
    "openstack:blockstorage/volume:Volume", "openstack:objectstorage/container:Container",
    "openstack:compute/instance:Instance", "openstack:compute/volumeAttach:VolumeAttach",
}


@pytest.fixture(scope="module")
def osstack(openstack_lab, tmp_path_factory):
    root = tmp_path_factory.mktemp("osstack")
    shutil.copy(DATA / "__main__.py", root / "__main__.py")
    (root / "Pulumi.yaml").write_text(
        "name: toolchain-osstack\nruntime:\n  name: python\n  options:\n"
        f"    virtualenv: {paths.REPO / '.venv'}\n"
    )
    (root / "state").mkdir()
    env = toolchain.pulumi_env()
    env.update({"PULUMI_BACKEND_URL": f"file://{root / 'state'}",
                "OS_CLIENT_CONFIG_FILE": str(openstack_lab["clouds_yaml"]), "OS_CLOUD": "govcloud-admin"})

    def run(*args, check=True, timeout=600):
        proc = subprocess.run([*toolchain.pulumi_argv(), *args, "--non-interactive"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check:
            assert proc.returncode == 0, f"pulumi {' '.join(args)}:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        return proc

    run("stack", "init", STACK)
    run("config", "set", "prefix", f"citest-tc{secrets.token_hex(2)}")
    run("config", "set", "instance", "true")
    yield run
    run("destroy", "--yes", "--skip-preview", "--stack", STACK, check=False)
    run("stack", "rm", "--yes", "--force", STACK, check=False)


def test_up_creates_every_tenant_resource_type(osstack):
    osstack("up", "--yes", "--skip-preview", "--stack", STACK)
    exported = json.loads(osstack("stack", "export", "--stack", STACK).stdout)
    created = {r["type"] for r in exported["deployment"]["resources"] if r.get("custom")}
    assert TYPES - created == set()
    outputs = json.loads(osstack("stack", "output", "--json", "--stack", STACK).stdout)
    assert len(outputs["network_id"]) == 36 and outputs["instance_id"]


def test_second_preview_has_no_changes(osstack):
    osstack("preview", "--expect-no-changes", "--stack", STACK)


def test_destroy_leaves_nothing(osstack):
    osstack("destroy", "--yes", "--skip-preview", "--stack", STACK)
    exported = json.loads(osstack("stack", "export", "--stack", STACK).stdout)
    assert (exported.get("deployment", {}).get("resources") or []) == []
