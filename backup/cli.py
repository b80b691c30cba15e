"""`govcloud backup validate|init|run|watch|replicate|check|forget|snapshots|deploy` (also `python3 -m backup`)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from backup.errors import BackupError

DEFAULT_CONFIG = os.environ.get("GOVCLOUD_BACKUP_CONFIG", "/etc/govcloud-backup/config.json")


def _job(args):
    from backup import config
    return config.load(args.config)


def _print(obj, as_json: bool) -> None:
    if as_json or not sys.stdout.isatty():
        print(json.dumps(obj, indent=None if not sys.stdout.isatty() else 2, ensure_ascii=False, default=str))
    else:
        print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def cmd_validate(args) -> int:
    from backup import config
    problems = []
    for f in args.files or [args.config]:
        problems += config.validate(f)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("ok")
    return 0


def cmd_sample(args) -> int:
    from backup.sample import sample
    print(sample(), end="")
    return 0


def cmd_init(args) -> int:
    from backup.repos import init
    _print(init(_job(args)), args.json)
    return 0


def cmd_run(args) -> int:
    from backup.errors import SiteError
    from backup.run import run
    try:
        res = run(_job(args), backup_time=args.time, progress=not args.quiet)
    except SiteError as exc:
        print(f"backup run FAILED: {exc}", file=sys.stderr)
        return 1
    _print(res, args.json)
    return 0


def cmd_watch(args) -> int:
    from backup.watch import watch
    return watch(_job(args), max_runs=args.max_runs, stop_after_s=args.duration)


def cmd_replicate(args) -> int:
    from backup.replicate import replicate
    res = replicate(_job(args), sites=args.site, attempts=args.attempts, backoff_s=args.backoff)
    _print(res, args.json)
    if not res["ok"]:
        bad = [n for n, v in res["sites"].items() if not v["ok"]]
        print(f"replicate FAILED for site(s): {', '.join(bad)}", file=sys.stderr)
    return 0 if res["ok"] else 1


def cmd_check(args) -> int:
    from backup.check import check
    res = check(_job(args), sites=args.site, subset=args.subset, full=args.read_all)
    _print(res, args.json)
    if not res["ok"]:
        print(f"check FAILED for site(s): {', '.join(res['failed_sites'])}", file=sys.stderr)
    return 0 if res["ok"] else 1


def cmd_forget(args) -> int:
    from backup.retention import forget
    res = forget(_job(args), sites=args.site, trusted=args.trusted, dry_run=args.dry_run)
    _print(res, args.json)
    return 0 if res["ok"] else 1


def cmd_snapshots(args) -> int:
    from backup.engine import job_tag, restic_for
    from backup.replicate import newest_age
    from backup.sites import targets
    job = _job(args)
    r = restic_for(job)
    out = {}
    for t in targets(job, args.site):
        snaps = r.snapshots(t, [job_tag(job)])
        out[t.name] = {"count": len(snaps), "newest_age_s": newest_age(snaps),
                       "snapshots": [{"id": s["short_id"], "time": s["time"], "tags": s.get("tags")} for s in snaps]}
    _print(out, args.json)
    return 0


def cmd_deploy(args) -> int:
    from backup.deploy import deploy
    return deploy(args.config, args.inventory, args.limit, extra=args.extra_vars)


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    def add(name, func, help_, config=True):
        p = sub.add_parser(name, help=help_, description=help_)
        if config:
            p.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                           help=f"job config, YAML or JSON (default {DEFAULT_CONFIG} or $GOVCLOUD_BACKUP_CONFIG)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.set_defaults(func=func)
        return p

    p = add("validate", cmd_validate, "validate job configs against the schema; print every problem at once")
    p.add_argument("files", nargs="*", help="config files (default: --config)")
    add("sample", cmd_sample, "print a commented sample config generated from the schema", config=False)
    add("init", cmd_init, "create missing repositories at every site")
    p = add("run", cmd_run, "back up now: primary + same-city dual commit")
    p.add_argument("--time", help="snapshot time to record (restic --time), e.g. for tests and imports")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p = add("watch", cmd_watch, "back up on file changes (debounced) to keep data at risk within the RPO")
    p.add_argument("--max-runs", type=int, help="stop after N successful runs")
    p.add_argument("--duration", type=float, help="stop after N seconds")
    p = add("replicate", cmd_replicate, "copy snapshots to the remote (async) sites with retries; report lag")
    p.add_argument("--site", action="append", help="only this site (repeatable)")
    p.add_argument("--attempts", type=int)
    p.add_argument("--backoff", type=float, help="first retry delay in seconds (doubles each time)")
    p = add("check", cmd_check, "restic check with a rotating --read-data-subset per site")
    p.add_argument("--site", action="append")
    p.add_argument("--subset", help="explicit subset, e.g. 2/7 (does not advance the rotation)")
    p.add_argument("--read-all", action="store_true", help="read all pack data")
    p = add("forget", cmd_forget, "apply retention (forget --prune) on trusted sites only")
    p.add_argument("--site", action="append")
    p.add_argument("--trusted", action="store_true",
                   help="we run on the server side of an append-only site (with its admin credentials)")
    p.add_argument("--dry-run", action="store_true")
    p = add("snapshots", cmd_snapshots, "list the job's snapshots per site with the newest's age")
    p.add_argument("--site", action="append")
    p = add("deploy", cmd_deploy, "install the engine, restic, config, credentials and timers on hosts (Ansible)")
    p.add_argument("-i", "--inventory", required=True)
    p.add_argument("-l", "--limit", required=True, help="hosts to deploy to")
    p.add_argument("-e", "--extra-vars", action="append", default=[])


def main(argv: list[str] | None = None) -> int:
    """Entry point on a protected host (`python3 -m backup ...`), where govcloud itself is not installed."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "drill":
        from backup import drill_cli as mod
        args = args[1:]
        prog = "backup drill"
    else:
        mod = sys.modules[__name__]
        prog = "backup"
    parser = argparse.ArgumentParser(prog=prog)
    mod.register(parser)
    ns = parser.parse_args(args)
    if not getattr(ns, "func", None):
        parser.print_help()
        return 2
    try:
        return int(ns.func(ns) or 0)
    except BackupError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
