"""Measured cost of the MLPS policy checks (offline): catalog checks on the example catalog and the engine
on a synthetic stack of many tenants' resources. Prints figures; no lab needed.

    .venv/bin/python benchmarks/bench_policies.py [--tenants 50]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

from infra import catalog
from policies import catalog_checks, engine
from policies.engine import Res


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), max(samples)


def synthetic(base: list[dict], n: int) -> tuple[list[dict], list[Res]]:
    tenants, resources = [], []
    for i in range(n):
        t = copy.deepcopy(base[i % len(base)])
        t["id"] = f"t{i:03d}"
        t["exchange"] = []
        for j, z in enumerate(t["zones"]):
            z["cidr"] = f"10.{16 + i // 200}.{(i % 200)}.{j * 32}/27"
        tenants.append(t)
        tid = t["id"]
        for z in t["zones"]:
            sg = f"urn:{tid}-{z['name']}"
            resources.append(Res(engine.T_SG, f"{tid}-{z['name']}", {}, sg))
            for port in (22, 443, 3306):
                resources.append(Res(engine.T_SG_RULE, f"{tid}-{z['name']}-tcp{port}",
                                     {"direction": "ingress", "protocol": "tcp", "portRangeMin": port,
                                      "portRangeMax": port, "remoteIpPrefix": "10.250.0.0/24"},
                                     f"urn:{tid}-{z['name']}-tcp{port}", {"securityGroupId": [sg]}))
        for k in range(4):
            resources.append(Res(engine.T_INSTANCE, f"{tid}-app-{k + 1}",
                                 {"imageName": "debian-12-hardened", "keyPair": f"{tid}-ops",
                                  "metadata": {"department": tid, "mlps_level": "3", "owner": "x",
                                               "data_location": "CN-SD"}}, f"urn:{tid}-app-{k + 1}"))
        resources.append(Res(engine.T_CONTAINER, f"{tid}-backup", {"region": "dr"}, f"urn:{tid}-backup"))
    return tenants, resources


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=50)
    args = ap.parse_args()
    cat = catalog.load(catalog.DEFAULT_CATALOG, check=False)
    cfg = {"quota_classes": cat.quota_classes, "backup_classes": cat.backup_classes}
    med, worst = timed(lambda: catalog_checks.check(copy.deepcopy(cat.tenants), cfg), 20)
    print(f"catalog checks, example catalog ({len(cat.tenants)} tenants): median {med * 1000:.1f} ms, max {worst * 1000:.1f} ms")
    tenants, resources = synthetic(cat.tenants, args.tenants)
    ctx = engine.build_context(engine.load_config({"waiversFile": ""}), tenants=tenants, with_waivers=False)
    med, worst = timed(lambda: engine.check_all(resources, ctx), 5)
    found = engine.check_all(resources, ctx)
    print(f"engine on {args.tenants} tenants / {len(resources)} resources: median {med * 1000:.1f} ms, "
          f"max {worst * 1000:.1f} ms, {len(found)} findings")


if __name__ == "__main__":
    main()
