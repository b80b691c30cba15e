"""Benchmark: dev-sec's os_hardening vs govcloud's MLPS roles on equal fresh lab hosts.

For each: wall time of the first run and of the re-run, changed tasks of the re-run, and the host's score
under `govcloud audit` (符合 controls / scored controls at level 3). Hosts run one after the other (the
shared lab has room for few extra hosts). devsec.hardening is not in the PyPI ansible package: check
github dev-sec/ansible-collection-hardening out as <DIR>/ansible_collections/devsec/hardening and set
DEVSEC_HARDENING_PATH=<DIR>. Without it only govcloud is measured.

    .venv/bin/python benchmarks/bench_hardening.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from govcloud.hardening import labinv, runner, service
from govcloud.lab import hosts

DEVSEC_PLAY = """- name: dev-sec os_hardening (benchmark)
  hosts: all
  become: true
  gather_facts: true
  vars:
    # the lab hosts have no package mirror (passwdqc, kmod cannot be installed), auditd is masked and
    # kernel.* sysctls are read-only (shared kernel): without these four os_hardening stops half-way.
    # Everything else is dev-sec's default.
    os_auth_pam_passwdqc_enable: false
    os_auditd_enabled: false
    os_modprobe_enabled: false
    os_sysctl_enabled: false
  roles:
    - role: devsec.hardening.os_hardening
"""


def measure(name: str, playbook: str, env: dict | None, tmp: Path) -> dict:
    for attempt in range(2):
        try:
            hosts.remove_host(name)
        except Exception:  # noqa: BLE001 - not there
            pass
        try:
            info = hosts.add_host(name)
            break
        except Exception as exc:  # noqa: BLE001 - lab busy: one retry
            if attempt:
                raise
            print(f"  add_host({name}) failed ({exc}); retrying", file=sys.stderr)
            time.sleep(5)
    try:
        st = hosts.status()
        inv = labinv.write_inventory(tmp / name, {name: {"address": info["address"], "mlps_level": 3}}, st)
        runs = []
        for _ in range(2):
            res = runner.run_playbook(playbook, inv, live=False, env=env)
            s = res.stats.get(name, {})
            runs.append({"seconds": res.seconds, "ok": res.ok, "changed": s.get("changed"), "failed": s.get("failed"),
                         "failures": [f["task"] for f in res.failures][:3]})
        audit = service.audit(service.plan(inv, waivers_file=Path(os.devnull)), write=False, live=False)
        sc = audit.summary["hosts"].get(name, {})
        return {"first": runs[0], "rerun": runs[1], "pass": sc.get("pass"), "scored": sc.get("scored"),
                "score": sc.get("score"), "audit_seconds": audit.run.seconds}
    finally:
        hosts.remove_host(name)


def main() -> int:
    hosts.up()
    devsec = os.environ.get("DEVSEC_HARDENING_PATH")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as d:
        tmp = Path(d)
        if devsec:
            play = tmp / "devsec.yml"
            play.write_text(DEVSEC_PLAY, encoding="utf-8")
            env = {"ANSIBLE_COLLECTIONS_PATH": f"{devsec}{os.pathsep}{tmp / 'none'}"}
            results["devsec os_hardening"] = measure("hard-bench-d", str(play), env, tmp)
        else:
            print("devsec: not measured (set DEVSEC_HARDENING_PATH, see the module docstring)")
        results["govcloud mlps_*"] = measure("hard-bench-g", "harden.yml", None, tmp)
    print(f"{'variant':<22} {'first run':>10} {'re-run':>8} {'re-run changed':>15} {'MLPS L3 score':>14}")
    for variant, r in results.items():
        print(f"{variant:<22} {r['first']['seconds']:>9.1f}s {r['rerun']['seconds']:>7.1f}s "
              f"{r['rerun']['changed']!s:>15} {r['pass']}/{r['scored']} ({r['score']})")
        for key in ("first", "rerun"):
            if not r[key]["ok"]:
                print(f"  {variant} {key}: failed tasks {r[key]['failures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
