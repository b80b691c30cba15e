"""Generate tokens.json: Terraform resource/data source name -> Pulumi token, for our provider build.

The tokens must be exactly what the pulumi-openstack Python SDK (the wheel pinned in requirements.lock)
sends, so they are read from the wheel itself:
  - each resource class registers its type token:  super(X, __self__).__init__('openstack:mod/name:Name', ...)
  - each function invokes its token:               pulumi.runtime.invoke('openstack:mod/getName:getName', ...)
and matched with the names in the Terraform provider's ResourcesMap/DataSourcesMap (provider.go of the
module pinned in go.mod) by normalising both ("openstack_networking_secgroup_v2" ~ "networking/secGroup").

Run:  .venv/bin/python tools/openstack/gen_tokens.py  (from the repository root; needs `go` for the module dir)
The output is committed; a unit test checks that it still matches the installed wheel.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TF_MODULE = "github.com/terraform-provider-openstack/terraform-provider-openstack/v3"
# Tokens whose names do not follow from the Terraform names (checked by hand against the wheel).
OVERRIDES: dict[str, str] = {
    "openstack_blockstorage_quotaset_v3": "openstack:blockstorage/quoteSetV3:QuoteSetV3",  # sic, upstream spelling
    "openstack_objectstorage_object_v1": "openstack:objectstorage/containerObject:ContainerObject",
}
DS_OVERRIDES: dict[str, str] = {
    "openstack_dns_zone_v2": "openstack:dns/getDnsZone:getDnsZone",
    "openstack_sharedfilesystem_availability_zones_v2":
        "openstack:sharedfilesystem/getAvailbilityZones:getAvailbilityZones",  # sic
    "openstack_lb_flavor_v2": "openstack:loadbalancer/getFlavorV2:getFlavorV2",
    "openstack_loadbalancer_flavor_v2": "openstack:loadbalancer/getLbFlavorDeprecated:getLbFlavorDeprecated",
}
# Top-level property names the SDK spells differently from the bridge's default rule (TF name -> field -> name).
FIELD_OVERRIDES: dict[str, dict[str, str]] = {
    "openstack_orchestration_stack_v1": {"outputs": "StackOutputs"},
}
# Terraform module abbreviations -> Pulumi module names.
MODULE_ALIASES = {"lb": "loadbalancer", "fw": "firewall", "db": "database"}
# Wheel-side modules/names to ignore: the provider resource itself.
IGNORE = {"pulumi:providers:openstack"}


def wheel_tokens(pkg: Path) -> tuple[set[str], set[str]]:
    resources: set[str] = set()
    functions: set[str] = set()
    res_re = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(openstack:[^']+)'")
    fn_re = re.compile(r"invoke(?:_output)?\('(openstack:[^']+)'")
    for path in pkg.rglob("*.py"):
        text = path.read_text()
        resources.update(res_re.findall(text))
        functions.update(fn_re.findall(text))
    return resources - IGNORE, functions


def tf_names(provider_go: Path) -> tuple[list[str], list[str]]:
    text = provider_go.read_text()
    ds_start = text.index("DataSourcesMap:")
    rs_start = text.index("ResourcesMap:")
    name_re = re.compile(r'"(openstack_[a-z0-9_]+)"\s*:')
    if ds_start < rs_start:
        ds_block, rs_block = text[ds_start:rs_start], text[rs_start:]
    else:
        rs_block, ds_block = text[rs_start:ds_start], text[ds_start:]
    return name_re.findall(rs_block), name_re.findall(ds_block)


def norm_tf(name: str) -> list[str]:
    """Keys for a TF name: with and without the trailing version (v1/v2/v3)."""
    base = name.removeprefix("openstack_")
    module, _, rest = base.partition("_")
    base = MODULE_ALIASES.get(module, module) + "_" + rest
    keys = [base.replace("_", "")]
    stripped = re.sub(r"_v\d+$", "", base)
    keys.append(stripped.replace("_", ""))
    return keys


def norm_token(token: str, function: bool) -> str:
    mod_and_name = token.split(":", 1)[1]  # mod/name:Name
    mod, member = mod_and_name.split(":", 1)
    module = mod.split("/", 1)[0]
    name = member
    if function:
        name = re.sub(r"^get", "", name)
    return (module + name).lower()


def match(tf: list[str], tokens: set[str], function: bool,
          overrides: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    by_key: dict[str, str] = {}
    # Module-qualified tokens win over the flat "index" duplicates some names also have.
    for token in sorted(tokens, key=lambda t: (":index/" in t, t)):
        by_key.setdefault(norm_token(token, function), token)
        if ":index/" in token:  # flat tokens: the name alone carries the Terraform module
            by_key.setdefault(norm_token(token, function).removeprefix("index"), token)
    result: dict[str, str] = {}
    unmatched: list[str] = []
    used: set[str] = set()
    for name in sorted(tf):
        if name in overrides:
            result[name] = overrides[name]
            used.add(overrides[name])
            continue
        token = None
        for key in norm_tf(name):
            if key in by_key and by_key[key] not in used:
                token = by_key[key]
                break
        if token:
            result[name] = token
            used.add(token)
        else:
            unmatched.append(name)
    unmatched.extend(f"(wheel) {t}" for t in sorted(tokens - used))
    return result, unmatched


def main() -> int:
    repo = HERE.parent.parent
    wheel = next((repo / ".venv/lib").glob("python3*/site-packages/pulumi_openstack"))
    tf_dir = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", TF_MODULE], cwd=HERE, capture_output=True,
                            text=True, check=True).stdout.strip()
    resources, functions = wheel_tokens(wheel)
    tf_res, tf_ds = tf_names(Path(tf_dir) / "openstack" / "provider.go")
    res_map, res_left = match(tf_res, resources, function=False, overrides=OVERRIDES)
    ds_map, ds_left = match(tf_ds, functions, function=True, overrides=DS_OVERRIDES)
    version = json.loads((wheel / "pulumi-plugin.json").read_text())["version"]
    out = {"sdk": f"pulumi-openstack {version}", "terraform": TF_MODULE,
           "resources": res_map, "datasources": ds_map, "fields": FIELD_OVERRIDES}
    (HERE / "cmd" / "pulumi-resource-openstack" / "tokens.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"resources: {len(res_map)} mapped; data sources: {len(ds_map)} mapped")
    for item in res_left + ds_left:
        print(f"unmatched: {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
