"""Toolchain figures: the recorded build time and peak memory of every cached tool (from its build.json,
written when `govcloud setup` built it), a no-op `govcloud setup` wall time, and `pulumi preview` of a
one-component Python stack through our CLI and language host (local file backend, no lab)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from govcloud import paths, toolchain
from govcloud.toolchain import build

REPO = paths.REPO


def recorded_builds() -> None:
    go = build.find_go()
    go_ver = build.go_version(go)
    print("tool                        version              build s   peak MiB  (recorded at build time)")
    for name, spec in toolchain.pins()["tools"].items():
        entry = build.entry_dir(name, spec, build.recipe_hash(name, spec, go_ver))
        meta_file = entry / "build.json"
        if not meta_file.is_file():
            print(f"{name:<27} {spec['version']:<20} not built (run govcloud setup)")
            continue
        meta = json.loads(meta_file.read_text())
        print(f"{name:<27} {spec['version']:<20} {meta['seconds']:>7.1f}   {meta.get('peak_mib') or 0:>8.0f}")


def noop_setup() -> None:
    start = time.monotonic()
    proc = subprocess.run([str(paths.venv_bin() / "govcloud"), "setup", "--json"], capture_output=True, text=True,
                          check=True)
    seconds = time.monotonic() - start
    print(f"no-op govcloud setup: {seconds:.2f} s, rebuilt {json.loads(proc.stdout)['rebuilt']}")


def tiny_preview(runs: int = 3) -> None:
    data = REPO / "tests" / "integration" / "toolchain" / "data" / "tinystack"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(data / "__main__.py", root)
        (root / "Pulumi.yaml").write_text("name: bench\nruntime:\n  name: python\n  options:\n"
                                          f"    virtualenv: {REPO / '.venv'}\n")
        (root / "state").mkdir()
        env = {**toolchain.pulumi_env(), "PULUMI_BACKEND_URL": f"file://{root / 'state'}"}
        pulumi = toolchain.pulumi_argv()
        subprocess.run([*pulumi, "stack", "init", "bench"], cwd=root, env=env, check=True, capture_output=True)
        subprocess.run([*pulumi, "config", "set", "--secret", "token", "x"], cwd=root, env=env, check=True,
                       capture_output=True)
        times = []
        for _ in range(runs):
            start = time.monotonic()
            subprocess.run([*pulumi, "preview", "--non-interactive"], cwd=root, env=env, check=True,
                           capture_output=True)
            times.append(time.monotonic() - start)
        print(f"pulumi preview, 1-component Python stack: best {min(times):.2f} s of {runs}")


def main() -> int:
    recorded_builds()
    noop_setup()
    tiny_preview()
    return 0


if __name__ == "__main__":
    sys.exit(main())
