"""Cross-checks between our OpenStack provider build and the pulumi-openstack Python SDK wheel.

The SDK decides which type tokens and property names reach the provider; our provider (tools/openstack)
must agree. tokens.json is generated from the wheel (tools/openstack/gen_tokens.py); this module reads the
same facts back so tests can prove the agreement:
  - wheel_tokens(): resource tokens and function tokens the SDK sends;
  - wheel_properties(): per resource token, the property names of its output getters;
  - compare(dump): differences with `pulumi-resource-openstack -dump-names` (what the bridge maps).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from govcloud import paths

TOKENS_FILE = paths.REPO / "tools" / "openstack" / "cmd" / "pulumi-resource-openstack" / "tokens.json"
_RES_RE = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(openstack:[^']+)'")
_FN_RE = re.compile(r"invoke(?:_output)?\('(openstack:[^']+)'")
_CLASS_RE = re.compile(r"^class (\w+)\(pulumi\.CustomResource\):", re.M)
_GETTER_RE = re.compile(r"@pulumi\.getter(?:\(name=\"([^\"]+)\"\))?\s*\n\s*def (\w+)\(")


def wheel_dir() -> Path:
    import pulumi_openstack

    return Path(pulumi_openstack.__file__).parent


def wheel_version() -> str:
    return json.loads((wheel_dir() / "pulumi-plugin.json").read_text())["version"]


def wheel_tokens() -> tuple[set[str], set[str]]:
    resources: set[str] = set()
    functions: set[str] = set()
    for path in wheel_dir().rglob("*.py"):
        text = path.read_text()
        resources.update(_RES_RE.findall(text))
        functions.update(_FN_RE.findall(text))
    resources.discard("pulumi:providers:openstack")
    return resources, functions


def wheel_properties() -> dict[str, set[str]]:
    """Resource token -> names of the properties its class reads back (camelCase wire names)."""
    props: dict[str, set[str]] = {}
    for path in wheel_dir().rglob("*.py"):
        text = path.read_text()
        match = _CLASS_RE.search(text)
        tokens = _RES_RE.findall(text)
        if not match or not tokens:
            continue
        body = text[match.end():]
        names = {wire or py for wire, py in _GETTER_RE.findall(body)}
        props[tokens[0]] = names
    return props


def token_map() -> dict:
    return json.loads(TOKENS_FILE.read_text())


def compare(dump: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """token -> {"missing_in_provider": [...], "unknown_to_sdk": [...]} for every resource that differs."""
    diffs: dict[str, dict[str, list[str]]] = {}
    for token, names in sorted(wheel_properties().items()):
        if token not in dump:
            continue
        have = set(dump[token])
        missing = sorted(names - have)
        extra = sorted(have - names)
        if missing or extra:
            diffs[token] = {"missing_in_provider": missing, "unknown_to_sdk": extra}
    return diffs
