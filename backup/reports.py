"""Drill reports: a JSON document for machines and a self-contained HTML page for reviewers."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

from backup.config import Job


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return html.escape(str(v))


def render_html(report: dict) -> str:
    rows = []
    for s in report["sites"]:
        cls = "ok" if s["ok"] else "fail"
        rows.append(
            f"<tr class='{cls}'><td>{_fmt(s['site'])}</td><td>{_fmt(s.get('role'))}</td>"
            f"<td>{'PASS' if s['ok'] else 'FAIL'}</td><td>{_fmt(s.get('rpo_s'))}</td><td>{_fmt(s.get('rpo_target_s'))}</td>"
            f"<td>{_fmt(s.get('rto_s'))}</td><td>{_fmt(s.get('rto_target_s'))}</td>"
            f"<td>{_fmt(', '.join(s.get('snapshots') or []))}</td>"
            f"<td>{_fmt((s.get('verify') or {}).get('checked'))}</td><td>{_fmt(s.get('error', ''))}</td></tr>")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report["started"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Restore drill {html.escape(report['job'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:4px 8px}}tr.ok td:nth-child(3){{color:#070}}tr.fail{{background:#fdd}}</style>
</head><body>
<h1>Restore drill: {html.escape(report['job'])} ({html.escape(str(report.get('tenant') or ''))})</h1>
<p>Started {when}. Result: <b>{'PASS' if report['ok'] else 'FAIL'}</b>.
Targets: RPO {report['targets'].get('rpo_s')} s (sync sites), {report['targets'].get('rpo_async_s')} s (async sites);
RTO {report['targets'].get('rto_s')} s.</p>
<p>RPO = age of the newest snapshot restorable at the site; RTO = time to restore the chosen run and verify every
file against the sha256 manifest recorded at backup time (plus loading database dumps into a scratch database).</p>
<table><tr><th>site</th><th>role</th><th>result</th><th>RPO s</th><th>target</th><th>RTO s</th><th>target</th>
<th>snapshots</th><th>files verified</th><th>error</th></tr>
{''.join(rows)}
</table></body></html>
"""


def write(job: Job, report: dict) -> dict:
    d = Path(job.section("drill")["report_dir"])
    d.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(report["started"]))
    base = d / f"drill-{job.name}-{stamp}"
    jpath, hpath = base.with_suffix(".json"), base.with_suffix(".html")
    jpath.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    hpath.write_text(render_html(report))
    return {"json": str(jpath), "html": str(hpath)}
