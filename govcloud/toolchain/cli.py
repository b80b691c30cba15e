"""`govcloud setup`: build (or reuse) and link the toolchain. Idempotent: with everything cached it only
checks hashes and links and finishes in seconds."""

from __future__ import annotations

import argparse
import json
import time

from govcloud import toolchain
from govcloud.errors import UserError
from govcloud.toolchain import build


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", metavar="TOOL", choices=sorted(toolchain.pins()["tools"]),
                        help="set up only these tools (and what they need)")
    parser.add_argument("--force", action="store_true", help="rebuild even when a cached build exists")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    parser.set_defaults(func=handler)


def _selected(only: list[str] | None) -> list[str]:
    names = build.order()
    if not only:
        return names
    tools = toolchain.pins()["tools"]
    wanted: set[str] = set()

    def add(name: str) -> None:
        wanted.add(name)
        for dep in tools[name].get("needs", []):
            add(dep)

    for name in only:
        add(name)
    return [n for n in names if n in wanted]


def handler(args: argparse.Namespace) -> int:
    start = time.monotonic()
    go = build.find_go()
    go_ver = build.check_go(go)
    toolchain.passphrase_file()
    toolchain.backend_url()
    results = []
    for name in _selected(args.only):
        if not args.json:
            print(f"{name}: checking ...", flush=True)
        try:
            result = build.ensure(name, go, go_ver, force=args.force)
        except UserError as exc:
            raise UserError(f"{name}: {exc}") from exc
        results.append(result)
        if not args.json:
            if result.built:
                peak = f"{result.peak_mib:.0f} MiB" if result.peak_mib is not None else "unknown"
                print(f"{name} {result.version}: built in {result.seconds:.1f} s, peak memory {peak}", flush=True)
            else:
                print(f"{name} {result.version}: cached ({result.path})", flush=True)
            for note in result.notes:
                print(f"  {note}", flush=True)
    total = time.monotonic() - start
    rebuilt = [r.tool for r in results if r.built]
    if args.json:
        print(json.dumps({
            "seconds": round(total, 2), "rebuilt": rebuilt,
            "tools": [{"tool": r.tool, "version": r.version, "built": r.built, "seconds": round(r.seconds, 1),
                       "peak_mib": r.peak_mib, "path": str(r.path), "notes": r.notes} for r in results],
        }, indent=2))
    else:
        print(f"setup finished in {total:.1f} s; rebuilt: {', '.join(rebuilt) or 'nothing'}")
    return 0
