"""Evidence writers: JSON (everything), HTML (one page for reviewers), CSV (the assessor's table form)."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

CSV_HEADER = ["序号", "测评对象", "安全控制点", "测评项编号", "测评指标", "结果记录", "符合程度", "核查方式", "核查时间"]
TIER_ZH = {"enforced": "主机实测 (enforced)", "config-verified": "配置核查 (config-verified)",
           "evidence-only": "文档/人工核查 (evidence-only)"}


def write_json(path: Path, rows: list[dict], summary: dict, meta: dict) -> Path:
    path.write_text(json.dumps({"meta": meta, "summary": summary, "results": rows}, ensure_ascii=False, indent=2,
                               default=str), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    # utf-8-sig so that spreadsheet tools used by assessors open the Chinese headers correctly
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        for i, r in enumerate(rows, 1):
            w.writerow([i, r["host"], r["family"], r["control"], r["requirement"], r["record"], r["verdict"],
                        TIER_ZH[r["tier"]], r["timestamp"]])
    return path


def write_html(path: Path, rows: list[dict], summary: dict, meta: dict) -> Path:
    e = html.escape
    colors = {"符合": "#d4edda", "部分符合": "#fff3cd", "不符合": "#f8d7da", "不适用": "#eeeeee", "waived": "#dbe7ff"}
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        "<title>等保2.0 安全计算环境 测评证据</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%;margin-bottom:2em}"
        "td,th{border:1px solid #999;padding:4px;vertical-align:top;font-size:13px}th{background:#eee}"
        "code{white-space:pre-wrap}</style></head><body>",
        f"<h1>等保2.0 安全计算环境 测评证据 / MLPS 2.0 computing-environment evidence</h1>"
        f"<p>generated {e(str(meta.get('generated', '')))} · inventory {e(str(meta.get('inventory', '')))}"
        f" · catalog {e(str(meta.get('catalog', '')))}</p>",
        "<h2>得分 / scores</h2><table><tr><th>tenant</th><th>hosts</th><th>score</th><th>符合</th><th>部分符合</th>"
        "<th>不符合</th><th>不适用</th><th>waived</th></tr>",
    ]
    for t, s in sorted(summary["tenants"].items()):
        parts.append(f"<tr><td>{e(t)}</td><td>{e(', '.join(s['hosts']))}</td><td>{s['score']}</td><td>{s['pass']}</td>"
                     f"<td>{s['partial']}</td><td>{s['fail']}</td><td>{s['na']}</td><td>{s['waived']}</td></tr>")
    parts.append("</table>")
    by_host: dict[str, list] = {}
    for r in rows:
        by_host.setdefault(r["host"], []).append(r)
    for host, rs in by_host.items():
        s = summary["hosts"][host]
        parts.append(f"<h2>{e(host)} (level {s['level']}, tenant {e(s['tenant'])}): score {s['score']} "
                     f"({s['pass']}/{s['scored']} 符合)</h2>")
        parts.append("<table><tr><th>测评项</th><th>安全控制点</th><th>测评指标</th><th>核查方式</th><th>期望</th>"
                     "<th>结果记录</th><th>符合程度</th><th>时间</th></tr>")
        for r in rs:
            parts.append(
                f"<tr style='background:{colors.get(r['verdict'], '#fff')}'><td>{e(r['control'])}<br><small>"
                f"{e(r['clause'])}</small></td><td>{e(r['family'])}</td><td>{e(r['requirement'])}<br><small>"
                f"{e(r['gloss'])}</small></td><td>{e(TIER_ZH[r['tier']])}</td><td><code>{e(r['expected'])}</code></td>"
                f"<td><code>{e(r['record'])}</code></td><td><b>{e(r['verdict'])}</b></td><td>{e(str(r['timestamp']))}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_all(out_dir: Path, rows: list[dict], summary: dict, meta: dict) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return {"json": write_json(out_dir / "evidence.json", rows, summary, meta),
            "html": write_html(out_dir / "evidence.html", rows, summary, meta),
            "csv": write_csv(out_dir / "evidence.csv", rows)}
