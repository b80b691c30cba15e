"""The per-snapshot manifest: sha256 of every regular file a snapshot holds, so a drill at any site can
verify a restore independently of restic.

Lean hot path: files are hashed once (a cache keyed by size, mtime, ctime and inode skips unchanged files)
and in a thread while restic runs. A file whose stat changes between the scan before the backup and the
end of the backup may differ from what restic stored: it is listed as volatile and not verified.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat
import threading
import time
from pathlib import Path


def _excluded(path: str, patterns: list[str]) -> bool:
    comps = [c for c in path.split("/") if c]
    for pat in patterns:
        anchored = pat.startswith("/")
        pc = [c for c in pat.split("/") if c]
        if not pc:
            continue
        starts = [0] if anchored else range(len(comps))
        for i in starts:
            if i + len(pc) > len(comps):
                break
            if all(fnmatch.fnmatchcase(comps[i + j], pc[j]) for j in range(len(pc))):
                return True
    return False


def scan(paths: list[str], excludes: list[str]) -> dict[str, tuple]:
    """Walk the sources: {path: (size, mtime_ns, ctime_ns, ino)} for every regular file."""
    out: dict[str, tuple] = {}
    stack = []
    for p in paths:
        p = os.path.abspath(p)
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            if not _excluded(p, excludes):
                out[p] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        elif stat.S_ISDIR(st.st_mode):
            stack.append(p)
    while stack:
        d = stack.pop()
        if excludes and _excluded(d, excludes):
            continue
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.is_file(follow_symlinks=False):
                        if excludes and _excluded(e.path, excludes):
                            continue
                        st = e.stat(follow_symlinks=False)
                        out[e.path] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                except OSError:
                    continue
    return out


def sha256_file(path: str) -> str:
    with open(path, "rb", buffering=0) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Builder:
    """Hash the scanned files in a background thread (with the cache) while restic backs them up."""

    def __init__(self, paths: list[str], excludes: list[str], cache_file: Path | None):
        self.paths = paths
        self.excludes = excludes
        self.cache_file = cache_file
        self.before = scan(paths, excludes)
        self.hashes: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self._cache = self._load_cache()
        self._thread = threading.Thread(target=self._work, daemon=True)

    def _load_cache(self) -> dict:
        if not self.cache_file or not self.cache_file.exists():
            return {}
        try:
            return json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            return {}

    def start(self) -> Builder:
        self._thread.start()
        return self

    def _work(self) -> None:
        cache = self._cache
        for path, sig in self.before.items():
            hit = cache.get(path)
            if hit and tuple(hit[:4]) == sig:
                self.hashes[path] = hit[4]
                continue
            try:
                self.hashes[path] = sha256_file(path)
            except OSError as exc:
                self.errors[path] = exc.strerror or str(exc)

    def finish(self) -> dict:
        """Wait for the hashes; re-stat to find files that changed during the backup window."""
        self._thread.join()
        files: dict[str, list] = {}
        volatile: list[str] = []
        new_cache: dict[str, list] = {}
        for path, sig in self.before.items():
            h = self.hashes.get(path)
            if h is None:
                volatile.append(path)
                continue
            try:
                st = os.lstat(path)
                now = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            except OSError:
                now = None
            if now != sig:
                volatile.append(path)
                continue
            files[path] = [sig[0], h]
            new_cache[path] = [*sig, h]
        if self.cache_file:
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(new_cache, separators=(",", ":")))
            os.replace(tmp, self.cache_file)
        return {"version": 1, "created": time.time(), "files": files, "volatile": sorted(volatile)}


def verify(manifest: dict, root: str) -> dict:
    """Check a restore under `root` against a manifest: {checked, bytes, missing, mismatched}."""
    missing: list[str] = []
    mismatched: list[str] = []
    nbytes = 0
    for path, (size, digest) in manifest.get("files", {}).items():
        restored = os.path.join(root, path.lstrip("/"))
        try:
            got = sha256_file(restored)
        except OSError:
            missing.append(path)
            continue
        nbytes += size
        if got != digest:
            mismatched.append(path)
    return {"checked": len(manifest.get("files", {})), "bytes": nbytes,
            "missing": missing[:20], "missing_count": len(missing),
            "mismatched": mismatched[:20], "mismatched_count": len(mismatched),
            "volatile_count": len(manifest.get("volatile", []))}
