"""Prometheus textfile-collector metrics (node_exporter --collector.textfile.directory)."""

from __future__ import annotations

import os
from pathlib import Path

from backup.config import Job


def _esc(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def render_drill(report: dict) -> str:
    job = _esc(report["job"])
    lines = [
        "# HELP govcloud_backup_drill_ok 1 when the last drill restored and verified this site within targets.",
        "# TYPE govcloud_backup_drill_ok gauge",
        "# HELP govcloud_backup_drill_rpo_seconds Age of the newest restorable snapshot at the site.",
        "# TYPE govcloud_backup_drill_rpo_seconds gauge",
        "# HELP govcloud_backup_drill_rto_seconds Restore + verify time of the last drill.",
        "# TYPE govcloud_backup_drill_rto_seconds gauge",
        "# HELP govcloud_backup_drill_rpo_target_seconds RPO target for the site.",
        "# TYPE govcloud_backup_drill_rpo_target_seconds gauge",
        "# HELP govcloud_backup_drill_rto_target_seconds RTO target for the site.",
        "# TYPE govcloud_backup_drill_rto_target_seconds gauge",
        "# HELP govcloud_backup_drill_timestamp_seconds When the last drill finished.",
        "# TYPE govcloud_backup_drill_timestamp_seconds gauge",
    ]
    for s in report["sites"]:
        lab = f'job="{job}",site="{_esc(s["site"])}"'
        lines.append(f"govcloud_backup_drill_ok{{{lab}}} {1 if s['ok'] else 0}")
        if s.get("rpo_s") is not None:
            lines.append(f"govcloud_backup_drill_rpo_seconds{{{lab}}} {s['rpo_s']}")
        if s.get("rto_s") is not None:
            lines.append(f"govcloud_backup_drill_rto_seconds{{{lab}}} {s['rto_s']}")
        if s.get("rpo_target_s") is not None:
            lines.append(f"govcloud_backup_drill_rpo_target_seconds{{{lab}}} {s['rpo_target_s']}")
        if s.get("rto_target_s") is not None:
            lines.append(f"govcloud_backup_drill_rto_target_seconds{{{lab}}} {s['rto_target_s']}")
    lines.append(f'govcloud_backup_drill_timestamp_seconds{{job="{job}"}} {report["finished"]:.0f}')
    return "\n".join(lines) + "\n"


def write_drill(job: Job, report: dict) -> str:
    path = job.section("drill").get("metrics_file") or str(job.state_dir / "metrics.prom")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(render_drill(report))
    os.replace(tmp, p)
    return str(p)
