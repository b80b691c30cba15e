"""Tenant provisioning figures on the lab: resources in the example catalog, wall time of `pulumi up`
from empty, of a no-op `pulumi preview`, and the same for a generated 50-department catalog.

    .venv/bin/python benchmarks/bench_tenants.py [--only example|generated] [--departments 50]

Runs on throwaway stacks (bench-tenants-*) in a project dir outside the checkout, destroys them
afterwards. Needs the lab (`govcloud lab up`) and the toolchain (`govcloud setup`). Not part of CI:
the 50-department run takes a while (it creates ~1,500 resources and 50 servers... servers are kept
small: one per generated department).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from govcloud import tenants  # noqa: E402
from infra import catalog  # noqa: E402


def generated_catalog(d: Path, n: int) -> None:
    """n departments, level 3 every fourth, one small server each, 2-3 zones, a link to the previous one."""
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        tid = f"bd{i:02d}"
        level = 3 if i % 4 == 0 else 2
        first17 = f"113715000{i:07d}9"[:17]
        second, third = i // 256, i % 256
        base = f"10.{24 + second}.{third}"
        zones = [{"name": "mgmt", "kind": "management", "cidr": f"{base}.0/26"},
                 {"name": "app", "kind": "business", "cidr": f"{base}.64/26"}]
        if level == 3:
            zones.append({"name": "db", "kind": "database", "cidr": f"{base}.128/26"})
        t = {"id": tid, "name": f"基准部门{i:02d}", "name_en": f"Benchmark department {i}",
             "credit_code": first17 + catalog.credit_check_char(first17), "mlps_level": level,
             "owner": "基准", "data_location": "CN-SD-Liaocheng",
             "contacts": [{"duty": d_, "name": f"{d_}{i}", "phone": "0635-1000000", "email": f"{d_}@bench.lc.gov.cn"}
                          for d_ in ("system_admin", "security_admin", "audit_admin")],
             "quota_class": "small", "zones": zones,
             "servers": [{"name": "app", "flavor": "gc.small", "image": "debian-12-hardened", "zone": "app"}],
             "backup_class": "gold" if level == 3 else "bronze"}
        if i > 0:
            t["exchange"] = [{"to": f"bd{i - 1:02d}", "from_zone": "app", "to_zone": "app", "protocol": "tcp",
                              "ports": [443]}]
        (d / f"{tid}.yaml").write_text(yaml.safe_dump(t, allow_unicode=True, sort_keys=False), encoding="utf-8")


def renamed_example(d: Path, suffix: str = "b") -> None:
    """The example catalog with every id suffixed, so it can run beside the `lab` stack (Keystone project
    and key-pair names are unique); same shape, same resource count."""
    d.mkdir(parents=True, exist_ok=True)
    for f in sorted((REPO / "infra" / "tenants").glob("*.yaml")):
        t = yaml.safe_load(f.read_text(encoding="utf-8"))
        t["id"] += suffix
        for x in t.get("exchange", []):
            x["to"] += suffix
        (d / f"{t['id']}.yaml").write_text(yaml.safe_dump(t, allow_unicode=True, sort_keys=False), encoding="utf-8")


def make_project(root: Path, stack: str, catalog_dir: Path, clouds: str, pubkey: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(yaml.safe_dump({
        "name": "govcloud", "runtime": {"name": "python", "options": {"virtualenv": str(REPO / ".venv")}},
        "main": str(REPO / "infra")}))
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {
        "govcloud:catalogDir": str(catalog_dir), "govcloud:cloudsYaml": clouds, "govcloud:opsPublicKey": pubkey,
        "govcloud:securityRole": f"{stack}_security_admin", "govcloud:forceDestroyContainers": "true"}}))


def timed(project: Path, stack: str, verb: str, *extra: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    proc = tenants.run_stack_command(verb, stack, list(extra), cwd=project, capture=True, timeout=7200)
    return time.monotonic() - t0, proc


def bench(label: str, catalog_dir: Path, clouds: str, pubkey: str, work: Path) -> dict:
    stack = f"bench-tenants-{label}"
    project = work / f"project-{label}"
    make_project(project, stack, catalog_dir, clouds, pubkey)
    cat = catalog.load(catalog_dir)
    result = {"catalog": label, "tenants": len(cat.tenants),
              "servers": sum(s["count"] for t in cat.tenants for s in t["servers"])}
    try:
        up_s, proc = timed(project, stack, "up")
        if proc.returncode != 0:
            raise SystemExit(f"{label}: pulumi up failed:\n{proc.stderr[-3000:]}{proc.stdout[-3000:]}")
        out = tenants.pulumi(["stack", "export"], stack, cwd=project)
        resources = [r for r in json.loads(out.stdout)["deployment"].get("resources", [])
                     if not r["type"].startswith("pulumi:")]
        result["resources"] = len(resources)
        result["cloud_resources"] = len([r for r in resources if r.get("custom", True)
                                         and not r["type"].startswith("govcloud:")])
        result["up_from_empty_s"] = round(up_s, 1)
        pv_s, proc = timed(project, stack, "preview", "--expect-no-changes")
        result["noop_preview_s"] = round(pv_s, 1)
        result["noop_preview_clean"] = proc.returncode == 0
    finally:
        d_s, proc = timed(project, stack, "destroy")
        result["destroy_s"] = round(d_s, 1)
        tenants.pulumi(["stack", "rm", "--yes", "--force"], stack, cwd=project)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["example", "generated"])
    ap.add_argument("--departments", type=int, default=50)
    args = ap.parse_args()
    from govcloud.lab import hosts, openstack

    st = openstack.up()
    clouds = str(st["clouds_yaml"])
    key = hosts.status().get("ssh_key")
    work = Path(tempfile.mkdtemp(prefix="bench-tenants-"))
    if key and Path(str(key) + ".pub").is_file():
        pubkey = Path(str(key) + ".pub").read_text().strip()
    else:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "k")], check=True)
        pubkey = (work / "k.pub").read_text().strip()
    results = []
    try:
        if args.only in (None, "example"):
            ex = work / "example"
            renamed_example(ex)
            results.append(bench("example", ex, clouds, pubkey, work))
        if args.only in (None, "generated"):
            gen = work / "catalog50"
            generated_catalog(gen, args.departments)
            results.append(bench(f"generated{args.departments}", gen, clouds, pubkey, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in results:
        print(f"{r['catalog']}: {r['tenants']} tenants, {r['servers']} servers, {r.get('resources')} resources "
              f"({r.get('cloud_resources')} in the cloud); up from empty {r.get('up_from_empty_s')} s; "
              f"no-op preview {r.get('noop_preview_s')} s (clean: {r.get('noop_preview_clean')}); "
              f"destroy {r.get('destroy_s')} s")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
