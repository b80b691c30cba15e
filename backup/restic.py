"""Run restic: build argv + environment for a site, stream its JSON progress, classify failures.

On a terminal the progress is drawn on one stderr line; under a timer the engine stays quiet and writes
its own structured JSON lines (see backup.log).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backup.errors import BackupError, SiteError
from backup.sites import Target

# restic >= 0.17 exit codes
EXIT_NO_REPO = 10
EXIT_LOCKED = 11
EXIT_WRONG_PASSWORD = 12

_CLASSES = [
    ("wrong_password", re.compile(r"wrong password|no key found", re.I),
     "wrong repository password (check the password file for this site)"),
    ("no_repository", re.compile(r"repository does not exist|Is there a repository at the following location|"
                                 r"unable to open config file|config file does not exist", re.I),
     "no repository at this location (run `govcloud backup init` or fix the site's path/url)"),
    ("disk_full", re.compile(r"no space left on device|insufficient storage|\b507\b|disk quota exceeded", re.I),
     "target disk is full (free space or extend the volume at this site)"),
    ("locked", re.compile(r"unable to create lock|repository is already locked|locked exclusively", re.I),
     "repository is locked by another process"),
    ("auth", re.compile(r"401 Unauthorized|403 Forbidden|unauthorized", re.I),
     "the server refused our credentials or the operation (check username/credential file; append-only?)"),
    ("unreachable", re.compile(r"connection refused|no route to host|i/o timeout|timed out|timeout|"
                               r"connection reset|broken pipe|unexpected EOF|ssh command exited|"
                               r"subprocess ssh|Connection closed|network is unreachable|EOF", re.I),
     "site unreachable (network or server down)"),
]


def restic_binary(configured: str | None = None) -> str:
    cand = configured or os.environ.get("GOVCLOUD_RESTIC")
    if cand:
        if not os.access(cand, os.X_OK):
            raise BackupError(f"restic binary {cand} is missing or not executable")
        return cand
    here = Path(sys.prefix) / "bin" / "restic"
    if here.exists():
        return str(here)
    found = shutil.which("restic")
    if not found:
        raise BackupError("restic is not installed: run `govcloud setup` (controller) or the backup playbook (hosts)")
    return found


def classify(stderr: str, code: int) -> tuple[str, str]:
    if code == EXIT_WRONG_PASSWORD:
        return "wrong_password", _CLASSES[0][2]
    if code == EXIT_NO_REPO:
        return "no_repository", _CLASSES[1][2]
    for kind, rx, text in _CLASSES:
        if rx.search(stderr):
            return kind, text
    if code == EXIT_LOCKED:
        return "locked", _CLASSES[3][2]
    return "failed", "restic failed"


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[:600]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    messages: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        for m in reversed(self.messages):
            if m.get("message_type") == "summary":
                return m
        return {}


class Progress:
    """Draw restic's JSON status on a terminal; emit a JSON line every `every_s` otherwise."""

    def __init__(self, label: str, tty: bool | None = None, every_s: float = 30.0):
        self.label = label
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.every_s = every_s
        self._last = 0.0
        self._drawn = False

    def __call__(self, msg: dict) -> None:
        if msg.get("message_type") != "status":
            return
        now = time.monotonic()
        if self.tty:
            pct = 100.0 * float(msg.get("percent_done", 0.0))
            done = int(msg.get("bytes_done", msg.get("bytes_restored", 0)) or 0)
            total = int(msg.get("total_bytes", 0) or 0)
            eta = msg.get("seconds_remaining")
            line = f"\r{self.label}: {pct:5.1f}%  {done / 2**20:,.0f}/{total / 2**20:,.0f} MiB"
            if eta is not None:
                line += f"  ETA {int(eta)} s"
            sys.stderr.write(line + "   ")
            sys.stderr.flush()
            self._drawn = True
        elif now - self._last >= self.every_s:
            self._last = now
            from backup.log import event
            event("progress", op=self.label, percent=round(100.0 * float(msg.get("percent_done", 0.0)), 1),
                  bytes_done=msg.get("bytes_done", msg.get("bytes_restored")), total_bytes=msg.get("total_bytes"))

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


class Restic:
    def __init__(self, binary: str | None = None, cache_dir: str | None = None, host: str | None = None):
        self.binary = restic_binary(binary)
        self.cache_dir = cache_dir
        self.host = host

    def _env(self, t: Target, extra_env: dict | None, progress: bool) -> dict:
        env = dict(os.environ)
        for k in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY",
                  "RESTIC_FROM_PASSWORD", "RESTIC_FROM_PASSWORD_FILE"):
            env.pop(k, None)
        env.update(t.env)
        if extra_env:
            env.update(extra_env)
        if self.cache_dir:
            env["RESTIC_CACHE_DIR"] = self.cache_dir
        # status lines: a few per second on a terminal, rare under a timer
        env["RESTIC_PROGRESS_FPS"] = "4" if progress and sys.stderr.isatty() else "0.1"
        return env

    def argv(self, t: Target, args: list[str], json_out: bool = True) -> list[str]:
        out = [self.binary, "-r", t.repo, *t.options]
        if json_out:
            out.append("--json")
        return out + list(args)

    def run(self, t: Target, args: list[str], *, json_out: bool = True, extra_env: dict | None = None,
            on_message: Callable[[dict], None] | None = None, stdin: bytes | None = None,
            timeout: float | None = None, check: bool = True, retry_lock: bool = True) -> Result:
        """Run restic against one site. Raises SiteError (classified) when check and it fails."""
        res = self._run_once(t, args, json_out, extra_env, on_message, stdin, timeout)
        if res.code != 0 and retry_lock and classify(res.stderr, res.code)[0] == "locked":
            # a lock left by a killed run: `restic unlock` removes only stale locks (dead PID on this host or
            # older than 30 min); a live process keeps its lock and we fail below.
            self._run_once(t, ["unlock"], False, extra_env, None, None, 120)
            res = self._run_once(t, args, json_out, extra_env, on_message, stdin, timeout)
        if check and res.code != 0:
            kind, text = classify(res.stderr, res.code)
            raise SiteError(t.name, kind, f"{text} [restic {args[0]} exit {res.code}: {_last_lines(res.stderr)}]")
        return res

    def _run_once(self, t, args, json_out, extra_env, on_message, stdin, timeout) -> Result:
        argv = self.argv(t, args, json_out)
        env = self._env(t, extra_env, on_message is not None)
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        err_chunks: list[bytes] = []
        t_err = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
        t_err.start()
        timer = None
        limit = timeout if timeout is not None else t.timeout_s
        if limit:
            timer = threading.Timer(limit, proc.kill)
            timer.daemon = True
            timer.start()
        if stdin is not None:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        messages: list[dict] = []
        out_lines: list[bytes] = []
        for raw in proc.stdout:
            if json_out and raw[:1] == b"{":
                try:
                    msg = json.loads(raw)
                except ValueError:
                    out_lines.append(raw)
                    continue
                if msg.get("message_type") == "status":
                    if on_message:
                        on_message(msg)
                    continue
                messages.append(msg)
                if on_message:
                    on_message(msg)
            else:
                out_lines.append(raw)
        code = proc.wait()
        if timer:
            timer.cancel()
        t_err.join(10)
        stderr = b"".join(err_chunks).decode(errors="replace")
        if limit and code == -9 and time.monotonic() - start >= limit - 0.5:
            stderr += f"\ntimed out after {limit:.0f} s"
        return Result(code, b"".join(out_lines).decode(errors="replace"), stderr, messages,
                      time.monotonic() - start)

    def json(self, t: Target, args: list[str], **kw):
        """Run a command whose --json output is one document (snapshots, stats, ls is per line)."""
        res = self.run(t, args, **kw)
        text = res.stdout.strip()
        if not text and res.messages:
            return res.messages[0] if len(res.messages) == 1 else res.messages
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise SiteError(t.name, "failed", f"unexpected restic output for {args[0]}: {text[:200]}") from None

    def snapshots(self, t: Target, tags: list[str] | None = None, **kw) -> list[dict]:
        args = ["snapshots", "--no-lock"]
        for tag in tags or []:
            args += ["--tag", tag]
        data = self.json(t, args, **kw)
        if isinstance(data, dict):
            data = [data]
        return data or []
