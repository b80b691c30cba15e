"""Structured events: one JSON line per event on stderr under a timer, a short readable line on a terminal."""

from __future__ import annotations

import json
import sys
import time


def event(kind: str, **fields) -> None:
    fields = {k: v for k, v in fields.items() if v is not None}
    if sys.stderr.isatty():
        rest = " ".join(f"{k}={v}" for k, v in fields.items())
        sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {kind} {rest}\n")
    else:
        rec = {"ts": round(time.time(), 3), "event": kind, **fields}
        sys.stderr.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
    sys.stderr.flush()
