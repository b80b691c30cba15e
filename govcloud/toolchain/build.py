"""Build recipes, the build cache and the links into .venv/bin.

A tool's cache entry is  <cache_dir>/toolchain/<tool>/<version>-<recipe hash>/  holding its binaries and
build.json (seconds, peak memory). The recipe hash covers the pin (pins.json entry), the Go version and
the wrapper module's go.mod/go.sum and sources, so editing any of them rebuilds that tool and nothing else.
Builds go to a temporary directory first and are renamed into place, under a per-tool lock, so two
checkouts running `govcloud setup` at the same time never see half a tool.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from govcloud import paths, toolchain
from govcloud.errors import UserError

GO_CANDIDATES = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")
TIME_BIN = "/usr/bin/time"


@dataclass
class Result:
    tool: str
    version: str
    built: bool
    seconds: float = 0.0
    peak_mib: float | None = None
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


def find_go() -> str:
    """The Go toolchain: $GOVCLOUD_GO, `go` on PATH, or the usual install locations."""
    for cand in (os.environ.get("GOVCLOUD_GO"), shutil.which("go"), *GO_CANDIDATES):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise UserError(
        "go: the Go toolchain was not found (looked at $GOVCLOUD_GO, PATH, /usr/local/go/bin/go); "
        "install Go >= 1.25 (e.g. to /usr/local/go) and run `govcloud setup` again"
    )


def go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    return out or "unknown"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def check_go(go: str) -> str:
    version = go_version(go)
    minimum = toolchain.pins()["go_min"]
    if _version_tuple(version) < _version_tuple(minimum):
        raise UserError(f"go: {go} is {version}, the toolchain needs Go >= {minimum}; install a newer Go")
    return version


def module_dir(spec: dict) -> Path:
    return paths.REPO / spec["module"]


def recipe_hash(name: str, spec: dict, go_ver: str) -> str:
    """Hash of everything that determines the built binaries."""
    h = hashlib.sha256()
    h.update(json.dumps({"tool": name, "spec": spec, "go": go_ver}, sort_keys=True).encode())
    mod = module_dir(spec)
    files = [mod / "go.mod", mod / "go.sum"]
    sources = spec.get("sources")
    roots = [mod] if sources is None else [mod / s for s in sources]
    for root in roots:
        if root.is_dir():
            files.extend(p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)
        elif root.is_file():
            files.append(root)
    for path in sorted(set(files)):
        if path.is_file():
            h.update(str(path.relative_to(mod)).encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()[:16]


def tools_root() -> Path:
    return paths.cache_dir() / "toolchain"


def entry_dir(name: str, spec: dict, digest: str) -> Path:
    return tools_root() / name / f"{spec['version']}-{digest}"


def is_complete(entry: Path, spec: dict) -> bool:
    return (entry / "build.json").is_file() and all((entry / b).is_file() for b in spec["binaries"])


@contextmanager
def tool_lock(name: str):
    root = tools_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def go_env(go: str) -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(go).parent), env.get("PATH", "")])
    env["CGO_ENABLED"] = "0"
    env["GOTOOLCHAIN"] = "local"
    env["GOFLAGS"] = "-buildvcs=false -mod=readonly"
    env.setdefault("GOPROXY", "https://proxy.golang.org,direct")
    return env


def _run_measured(argv: list[str], cwd: Path, env: dict, log: Path) -> tuple[float, float | None]:
    """Run a build step niced; return (seconds, peak MiB of its largest process)."""
    start = time.monotonic()
    stats = log.with_suffix(".time")
    cmd = ["nice", "-n", "10", *argv]
    if os.access(TIME_BIN, os.X_OK):
        cmd = [TIME_BIN, "-f", "%M", "-o", str(stats), *cmd]
    with open(log, "ab") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise UserError(f"build step failed ({' '.join(argv[:3])} ... in {cwd}); log {log}:\n" + "\n".join(tail))
    peak = None
    if stats.is_file():
        digits = re.findall(r"^\d+$", stats.read_text(), re.M)
        if digits:
            peak = int(digits[-1]) / 1024
    else:  # no GNU time: the largest child this process has waited for so far (an upper bound)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak


def module_path(go: str, spec: dict, module: str) -> Path:
    """Directory of a dependency module in the module cache (downloaded if needed)."""
    out = subprocess.run([go, "list", "-m", "-json", module], cwd=module_dir(spec), env=go_env(go),
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise UserError(f"go list -m {module} failed in {module_dir(spec)}: {out.stderr.strip()}")
    info = json.loads(out.stdout)
    if not info.get("Dir"):
        subprocess.run([go, "mod", "download", module], cwd=module_dir(spec), env=go_env(go), check=True)
        info = json.loads(subprocess.run([go, "list", "-m", "-json", module], cwd=module_dir(spec),
                                         env=go_env(go), capture_output=True, text=True, check=True).stdout)
    return Path(info["Dir"])


def build(name: str, spec: dict, go: str, entry: Path) -> Result:
    """Build all binaries of one tool into `entry` (atomically)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    log = tmp / "build.log"
    env = go_env(go)
    total, peak = 0.0, None
    try:
        for binary, package in spec["binaries"].items():
            argv = [go, "build", "-p", os.environ.get("GOVCLOUD_BUILD_PARALLEL", "2"), "-trimpath"]
            if spec.get("tags"):
                argv += ["-tags", spec["tags"]]
            argv += ["-ldflags", " ".join(spec.get("ldflags", [])), "-o", str(tmp / binary), package]
            seconds, mib = _run_measured(argv, module_dir(spec), env, log)
            total += seconds
            if mib is not None:
                peak = max(peak or 0.0, mib)
        for module, files in spec.get("module_files", {}).items():
            src_dir = module_path(go, spec, module)
            for dest, rel in files.items():
                shutil.copyfile(src_dir / rel, tmp / dest)
                os.chmod(tmp / dest, 0o755)
        meta = {"tool": name, "version": spec["version"], "seconds": round(total, 1),
                "peak_mib": round(peak, 1) if peak is not None else None,
                "go": go_version(go), "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
        if entry.exists():
            shutil.rmtree(entry)
        os.rename(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Result(name, spec["version"], True, total, peak, entry)


def link(src: Path, dest: Path) -> bool:
    """Point dest (a symlink in .venv/bin) at src; True when it changed."""
    if dest.is_symlink() and os.readlink(dest) == str(src):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(src, tmp)
    os.replace(tmp, dest)
    return True


def linked_files(spec: dict, entry: Path) -> list[Path]:
    files = list(spec["binaries"])
    for extra in spec.get("module_files", {}).values():
        files.extend(extra)
    return [entry / f for f in files]


def ensure(name: str, go: str, go_ver: str, force: bool = False) -> Result:
    """Build (unless cached) and link one tool."""
    spec = toolchain.pins()["tools"][name]
    digest = recipe_hash(name, spec, go_ver)
    entry = entry_dir(name, spec, digest)
    with tool_lock(name):
        if force or not is_complete(entry, spec):
            result = build(name, spec, go, entry)
        else:
            meta = json.loads((entry / "build.json").read_text())
            result = Result(name, spec["version"], False, meta.get("seconds", 0.0), meta.get("peak_mib"), entry)
    if spec.get("link", True):
        for f in linked_files(spec, entry):
            if link(f, paths.venv_bin() / f.name):
                result.notes.append(f"linked {paths.venv_bin() / f.name}")
    if spec.get("plugin"):
        result.notes.extend(install_plugin(spec, entry))
    return result


def plugin_dir(plugin: dict) -> Path:
    return toolchain.pulumi_home() / "plugins" / f"{plugin['kind']}-{plugin['name']}-v{plugin['version']}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def install_plugin(spec: dict, entry: Path) -> list[str]:
    """`pulumi plugin install KIND NAME VERSION --file BIN` into our PULUMI_HOME, unless already identical."""
    plugin = spec["plugin"]
    binary = entry / next(iter(spec["binaries"]))
    installed = plugin_dir(plugin) / binary.name
    if installed.is_file() and installed.stat().st_size == binary.stat().st_size and \
            _sha256(installed) == _sha256(binary):
        return []
    argv = [*toolchain.pulumi_argv(), "plugin", "install", plugin["kind"], plugin["name"], plugin["version"],
            "--file", str(binary), "--reinstall"]
    proc = subprocess.run(argv, env=toolchain.pulumi_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UserError(f"{' '.join(argv)} failed: {(proc.stderr or proc.stdout).strip()}")
    return [f"installed plugin {plugin['kind']} {plugin['name']} {plugin['version']} into {plugin_dir(plugin).parent}"]


def order() -> list[str]:
    """Tools in build order (a tool's `needs` come first)."""
    tools = toolchain.pins()["tools"]
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        for dep in tools[name].get("needs", []):
            visit(dep)
        done.append(name)

    for name in tools:
        visit(name)
    return done


def installed_version(name: str, bin_dir: Path | None = None) -> str | None:
    """The version a linked tool reports, or None when it is missing or broken."""
    spec = toolchain.pins()["tools"][name]
    if "version_args" not in spec:
        return None
    exe = (bin_dir or toolchain.tool_bin()) / next(iter(spec["binaries"]))
    if not os.access(exe, os.X_OK):
        return None
    try:
        proc = subprocess.run([str(exe), *spec["version_args"]], capture_output=True, text=True, timeout=60,
                              env=toolchain.pulumi_env(create=False), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(spec["version_regex"], proc.stdout + proc.stderr)
    return match.group(1).strip() if match and proc.returncode == 0 else None
