"""`govcloud drill`: per site, restore one backup run (chosen, random or the newest) into scratch, verify it
against the manifest recorded at backup time, restore dumps into a scratch database, and measure
RTO (restore + verify seconds) and RPO (age of the newest snapshot restorable at that site)."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path

from backup import manifest as mf
from backup.config import Job
from backup.engine import job_tag, restic_for, write_json
from backup.errors import BackupError, SiteError
from backup.log import event
from backup.restic import Progress, Restic
from backup.sites import Target, target


def parse_time(value: str) -> float:
    """restic's RFC 3339 time with nanoseconds -> epoch seconds."""
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    if "." in v:
        head, rest = v.split(".", 1)
        frac = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            frac += rest[i]
            i += 1
        v = f"{head}.{(frac + '000000')[:6]}{rest[i:]}"
    return datetime.fromisoformat(v).timestamp()


def _run_of(snap: dict) -> str | None:
    for t in snap.get("tags") or []:
        if t.startswith("run:"):
            return t[4:]
    return None


def pick_run(snaps: list[dict], choice: str | None) -> tuple[str, list[dict]]:
    """Group a site's snapshots by run; return (run id, its snapshots): the newest, a random or a chosen one
    (by run id, snapshot id at this site, or the primary's id it was copied from)."""
    runs: dict[str, dict] = {}
    for s in snaps:
        rid = _run_of(s)
        if not rid:
            continue
        g = runs.setdefault(rid, {"data": [], "time": 0.0})
        g["data"].append(s)
        g["time"] = max(g["time"], parse_time(s["time"]))
    if not runs:
        raise BackupError("no snapshots of this job here")
    if choice in (None, "", "latest"):
        rid = max(runs, key=lambda k: runs[k]["time"])
    elif choice == "random":
        rid = random.choice(sorted(runs))
    else:
        rid = None
        for k, v in runs.items():
            ids = [i for s in v["data"] for i in (s["id"], s.get("original") or "", s.get("short_id", ""))]
            if k == choice or any(i and (i == choice or i.startswith(choice)) for i in ids):
                rid = k
                break
        if rid is None:
            raise BackupError(f"snapshot {choice} not found here")
    return rid, runs[rid]["data"]


def _restore_dump(r: Restic, t: Target, snap: dict, src: dict, scratch: Path) -> dict:
    d = src["dump"]
    restore = d.get("restore") or {"kind": "none"}
    dump_file = scratch / f"{src['name']}.dump"
    with open(dump_file, "wb") as f:
        argv = r.argv(t, ["dump", snap["id"], "/" + d["filename"]], json_out=False)
        env = r._env(t, None, False)
        proc = subprocess.run(argv, stdout=f, stderr=subprocess.PIPE, env=env, timeout=t.timeout_s)
    if proc.returncode != 0:
        from backup.restic import _last_lines, classify
        kind, text = classify(proc.stderr.decode(errors="replace"), proc.returncode)
        raise SiteError(t.name, kind, f"{text} [restic dump: {_last_lines(proc.stderr.decode(errors='replace'))}]")
    rec = {"source": src["name"], "bytes": dump_file.stat().st_size, "kind": restore.get("kind", "none")}
    if restore.get("kind") == "sqlite3":
        db = scratch / f"{src['name']}.sqlite"
        con = sqlite3.connect(db)
        try:
            con.executescript(dump_file.read_text())
            if restore.get("check_sql"):
                row = con.execute(restore["check_sql"]).fetchone()
                if row is None:
                    raise SiteError(t.name, "verify", f"dump {src['name']}: check query returned no row")
                rec["check"] = list(row)
        except sqlite3.Error as exc:
            raise SiteError(t.name, "verify", f"dump {src['name']} does not load into a scratch sqlite db: {exc}") from None
        finally:
            con.close()
    elif restore.get("kind") == "command":
        argv = [a.replace("{scratch}", str(scratch)) for a in restore.get("command", [])]
        with open(dump_file, "rb") as f:
            p = subprocess.run(argv, stdin=f, capture_output=True, timeout=t.timeout_s)
        if p.returncode != 0:
            raise SiteError(t.name, "verify", f"dump {src['name']}: restore command failed: {p.stderr[-300:]!r}")
    return rec


def drill_site(job: Job, r: Restic, t: Target, choice: str | None, scratch_root: Path, progress: bool) -> dict:
    rec: dict = {"site": t.name, "role": t.role, "ok": False, "rpo_s": None, "rto_s": None}
    targets = job.targets
    rpo_target = targets["rpo_async_s"] if t.role == "async" else targets["rpo_s"]
    rec.update({"rpo_target_s": rpo_target, "rto_target_s": targets["rto_s"]})
    scratch = scratch_root / t.name
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True, mode=0o700)
    try:
        snaps = r.snapshots(t, [job_tag(job)])
        if not snaps:
            raise SiteError(t.name, "empty", "no snapshots of this job at this site")
        newest = max(parse_time(s["time"]) for s in snaps)
        rid, run_snaps = pick_run(snaps, choice)
        rec["run"] = rid
        rec["snapshots"] = [s["short_id"] for s in run_snaps]
        rec["snapshot_time"] = max(s["time"] for s in run_snaps)
        start = time.monotonic()
        sources = {s["name"]: s for s in job.data["sources"]}
        dumps = []
        ver = {"checked": 0, "bytes": 0, "missing": [], "missing_count": 0, "mismatched": [],
               "mismatched_count": 0, "changed_during_backup": 0}
        for s in run_snaps:
            sname = next((tg[7:] for tg in s.get("tags") or [] if tg.startswith("source:")), None)
            src = sources.get(sname)
            if src and src.get("dump"):
                dumps.append(_restore_dump(r, t, s, src, scratch))
                continue
            root = scratch / "files" / (sname or s["short_id"])
            prog = Progress(f"restore {t.name}") if progress else None
            try:
                r.run(t, ["restore", s["id"], "--target", str(root)], on_message=prog,
                      timeout=max(t.timeout_s, 3600))
            finally:
                if prog:
                    prog.close()
            mpath = next((p for p in s.get("paths") or [] if p.endswith("/" + mf.MANIFEST_NAME)), None)
            try:
                manifest = json.loads((root / mpath.lstrip("/")).read_text()) if mpath else None
            except (OSError, ValueError):
                manifest = None
            if manifest is None:
                raise SiteError(t.name, "verify", f"snapshot {s['short_id']} carries no readable manifest")
            v = mf.verify(manifest, str(root))
            for k in ("checked", "bytes", "missing_count", "mismatched_count", "changed_during_backup"):
                ver[k] += v[k]
            ver["missing"] += v["missing"]
            ver["mismatched"] += v["mismatched"]
        rec["rto_s"] = round(time.monotonic() - start, 3)
        rec["rpo_s"] = round(time.time() - newest, 1)
        rec["verify"] = ver
        rec["dumps"] = dumps
        problems = []
        if any(not (src.get("dump")) for src in sources.values()) and not ver["checked"]:
            problems.append("no file could be verified against the manifest")
        if ver["missing_count"] or ver["mismatched_count"]:
            problems.append(f"verify failed: {ver['missing_count']} missing, {ver['mismatched_count']} mismatched "
                            f"(e.g. {(ver['mismatched'] + ver['missing'])[:3]})")
        if rec["rto_s"] > rec["rto_target_s"]:
            problems.append(f"RTO {rec['rto_s']:.0f} s exceeds target {rec['rto_target_s']} s")
        if rec["rpo_s"] > rec["rpo_target_s"]:
            problems.append(f"RPO {rec['rpo_s']:.0f} s exceeds target {rec['rpo_target_s']} s")
        rec["ok"] = not problems
        if problems:
            rec["error"] = "; ".join(problems)
    except (SiteError, BackupError) as exc:
        rec["error"] = str(exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rec


def drill(job: Job, sites: list[str] | None = None, choice: str | None = None, progress: bool = True) -> dict:
    cfg = job.section("drill")
    r = restic_for(job)
    scratch_root = Path(cfg["scratch_dir"]) / f"{job.name}-{os.getpid()}"
    started = time.time()
    chosen = [s for s in job.sites if not sites or s["name"] in sites]
    if sites and len(chosen) != len(set(sites)):
        raise BackupError(f"{job.path}: unknown site(s) in {sites}")
    results = []
    try:
        for s in chosen:
            try:
                t = target(job, s)
            except BackupError as exc:
                results.append({"site": s["name"], "role": s["role"], "ok": False, "rpo_s": None, "rto_s": None,
                                "error": str(exc)})
                continue
            rec = drill_site(job, r, t, choice, scratch_root, progress)
            event("drilled" if rec["ok"] else "drill_failed", site=rec["site"], rpo_s=rec["rpo_s"],
                  rto_s=rec["rto_s"], error=rec.get("error"))
            results.append(rec)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    report = {"job": job.name, "tenant": job.data.get("tenant"), "started": started,
              "finished": time.time(), "ok": all(x["ok"] for x in results), "targets": job.targets,
              "sites": results, "failed_sites": [x["site"] for x in results if not x["ok"]]}
    from backup import metrics, reports
    paths = reports.write(job, report)
    report["report_files"] = paths
    metrics.write_drill(job, report)
    write_json(job.state_dir / "last-drill.json", report)
    if not report["ok"] and cfg.get("failure_hook"):
        env = dict(os.environ, GOVCLOUD_DRILL_REPORT=paths["json"],
                   GOVCLOUD_DRILL_FAILED_SITES=",".join(report["failed_sites"]))
        try:
            subprocess.run(cfg["failure_hook"], env=env, timeout=120, check=False)
        except OSError as exc:
            event("failure_hook_error", error=str(exc))
    return report
