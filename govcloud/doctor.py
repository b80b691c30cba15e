"""`govcloud doctor [--json]`: is everything govcloud needs in place? Checks every pinned tool and its
version, the OpenStack provider plugin in our PULUMI_HOME, the Pulumi state backend and passphrase file,
and the shared lab. Prints what is missing with the exact command that fixes it; exits 1 when a required
check fails (the lab is informational: it is started on demand by `govcloud lab up`)."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from govcloud import paths, toolchain
from govcloud.toolchain import build


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.set_defaults(func=handler)


def _setup_cmd(tool: str) -> str:
    return f"{paths.venv_bin() / 'govcloud'} setup --only {tool}"


def check_go() -> Check:
    try:
        go = build.find_go()
        version = build.check_go(go)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return Check("go", False, str(exc), "install Go >= 1.25 to /usr/local/go", required=False)
    return Check("go", True, f"{go} ({version}); only needed to build missing tools", required=False)


def check_tools() -> list[Check]:
    checks = []
    bin_dir = toolchain.tool_bin()
    for name, spec in toolchain.pins()["tools"].items():
        if not spec.get("link", True):
            continue
        missing = [f for f in build.linked_files(spec, bin_dir) if not os.access(f, os.X_OK)]
        if missing:
            checks.append(Check(name, False, f"missing or not executable: {', '.join(str(m) for m in missing)}",
                                _setup_cmd(name)))
            continue
        detail = []
        if "version_args" in spec:
            got = build.installed_version(name, bin_dir)
            if got != spec["version"]:
                checks.append(Check(name, False, f"{bin_dir / name} reports version {got!r}, pinned {spec['version']}",
                                    _setup_cmd(name)))
                continue
            detail.append(f"{name} {got}")
        bad = None
        for extra, want in spec.get("extra_versions", {}).items():
            proc = subprocess.run([str(bin_dir / extra), *want["args"]], capture_output=True, text=True,
                                  timeout=30, check=False)
            got = proc.stdout.strip()
            if got != want["expect"]:
                bad = Check(name, False, f"{bin_dir / extra} reports {got!r}, expected {want['expect']}",
                            _setup_cmd(name))
                break
            detail.append(f"{extra} {got}")
        checks.append(bad or Check(name, True, ", ".join(detail) or "present"))
    return checks


def check_plugins() -> list[Check]:
    checks = []
    for name, spec in toolchain.pins()["tools"].items():
        plugin = spec.get("plugin")
        if not plugin:
            continue
        label = f"plugin {plugin['kind']} {plugin['name']} {plugin['version']}"
        pulumi = toolchain.tool_path("pulumi")
        if not os.access(pulumi, os.X_OK):
            checks.append(Check(label, False, "cannot list plugins: pulumi CLI missing", _setup_cmd("pulumi")))
            continue
        proc = subprocess.run([*toolchain.pulumi_argv(), "plugin", "ls", "--json"],
                              env=toolchain.pulumi_env(create=False),
                              capture_output=True, text=True, timeout=120, check=False)
        try:
            listed = json.loads(proc.stdout or "[]") or []
        except json.JSONDecodeError:
            listed = []
        found = any(p.get("name") == plugin["name"] and p.get("kind") == plugin["kind"]
                    and p.get("version") == plugin["version"] for p in listed)
        if found:
            checks.append(Check(label, True, f"installed in {toolchain.pulumi_home() / 'plugins'}"))
        else:
            checks.append(Check(label, False, f"not in `pulumi plugin ls` (PULUMI_HOME={toolchain.pulumi_home()})",
                                _setup_cmd(name)))
    return checks


def check_state() -> list[Check]:
    checks = []
    url = os.environ.get("PULUMI_BACKEND_URL") or f"file://{toolchain.state_backend_dir()}"
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        if path.is_dir() and os.access(path, os.W_OK):
            checks.append(Check("state backend", True, url))
        else:
            checks.append(Check("state backend", False, f"{path} missing or not writable",
                                f"{paths.venv_bin() / 'govcloud'} setup"))
    else:
        checks.append(Check("state backend", True, f"{url} (not checked: remote backend)", required=False))
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None:
        checks.append(Check("passphrase", True, "PULUMI_CONFIG_PASSPHRASE is set in the environment"))
        return checks
    pf = toolchain.passphrase_file(create=False)
    if not pf.is_file():
        checks.append(Check("passphrase", False, f"{pf} missing", f"{paths.venv_bin() / 'govcloud'} setup"))
    else:
        mode = stat.S_IMODE(pf.stat().st_mode)
        if mode & 0o077:
            checks.append(Check("passphrase", False, f"{pf} has mode {mode:o}, must not be readable by others",
                                f"chmod 600 {pf}"))
        elif not pf.read_text().strip():
            checks.append(Check("passphrase", False, f"{pf} is empty", f"rm {pf} && govcloud setup"))
        else:
            checks.append(Check("passphrase", True, f"{pf} (mode 600)"))
    return checks


def check_lab() -> Check:
    try:
        from govcloud.lab import openstack
    except ImportError as exc:
        return Check("lab", False, f"unknown: govcloud.lab.openstack does not import ({exc})", required=False)
    try:
        status = openstack.status()
    except Exception as exc:  # noqa: BLE001 - the lab is informational here
        return Check("lab", False, f"unknown: status() failed: {exc}", "govcloud lab up", required=False)
    state = status.get("state", "unknown")
    services = status.get("services") or {}
    down = sorted(k for k, v in services.items() if v != "up")
    ok = state in ("up", "running", "ready") and not down
    shown = ", ".join(down[:5]) + (f" and {len(down) - 5} more" if len(down) > 5 else "")
    detail = f"state {state}" + (f"; services down: {shown}" if down else "")
    return Check("lab", ok, detail, "" if ok else "govcloud lab up", required=False)


def run_checks() -> list[Check]:
    return [check_go(), *check_state(), *check_tools(), *check_plugins(), check_lab()]


def handler(args: argparse.Namespace) -> int:
    checks = run_checks()
    failed = [c for c in checks if c.required and not c.ok]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
            print(f"[{mark}] {c.name}: {c.detail}")
            if not c.ok and c.fix:
                print(f"       fix: {c.fix}")
        if failed:
            print(f"\n{len(failed)} required check(s) failed: {', '.join(c.name for c in failed)}")
        else:
            print("\nall required checks passed")
    return 1 if failed else 0
