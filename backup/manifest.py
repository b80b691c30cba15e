"""The per-snapshot manifest: sha256 of every regular file a snapshot holds, so a drill at any site can
verify a restore independently of restic. It travels inside the snapshot itself (one file next to the
data), so every copy at every site carries its own manifest and no extra restic call is needed.

Lean hot path: each file is hashed once (a cache keyed by size, mtime, ctime and inode skips unchanged
files), and restic is run once per source.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat
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


MANIFEST_NAME = "govcloud-manifest.json"


def build(paths: list[str], excludes: list[str], cache_file: Path | None, skip: str | None = None) -> dict:
    """Hash every regular file of a source once (the cache skips files whose size, mtime, ctime and inode are
    unchanged since the last run): {"files": {path: [size, mtime_ns, sha256]}}."""
    files_now = scan(paths, excludes)
    cache: dict = {}
    if cache_file and cache_file.exists():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    files: dict[str, list] = {}
    new_cache: dict[str, list] = {}
    errors = 0
    for path, sig in files_now.items():
        if skip and path.startswith(skip):
            continue
        hit = cache.get(path)
        if hit and tuple(hit[:4]) == sig:
            digest = hit[4]
        else:
            try:
                digest = sha256_file(path)
            except OSError:
                errors += 1
                continue
        files[path] = [sig[0], sig[1], digest]
        new_cache[path] = [*sig, digest]
    if cache_file:
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(new_cache, separators=(",", ":")))
        os.replace(tmp, cache_file)
    return {"version": 2, "created": time.time(), "files": files, "unreadable": errors}


def verify(manifest: dict, root: str) -> dict:
    """Check a restore under `root` against a manifest. A file whose restored size/mtime differ from the
    manifest changed between hashing and restic reading it (restic restores mtimes to the nanosecond): it is
    counted as changed, not as corrupt. Same size and mtime but another hash is a mismatch."""
    missing: list[str] = []
    mismatched: list[str] = []
    changed = 0
    nbytes = 0
    for path, (size, mtime_ns, digest) in manifest.get("files", {}).items():
        restored = os.path.join(root, path.lstrip("/"))
        try:
            st = os.stat(restored)
        except OSError:
            missing.append(path)
            continue
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            changed += 1
            continue
        nbytes += size
        if sha256_file(restored) != digest:
            mismatched.append(path)
    total = len(manifest.get("files", {}))
    return {"checked": total - changed - len(missing), "bytes": nbytes,
            "missing": missing[:20], "missing_count": len(missing),
            "mismatched": mismatched[:20], "mismatched_count": len(mismatched),
            "changed_during_backup": changed}
