"""The one Debian 12 root filesystem every lab host boots from (read-only lower layer of overlayfs).

Built once with `debootstrap --variant=minbase` from the Debian mirror apt uses on this machine, with every
package hardening, audit and backup need baked in (hosts have no route to a mirror). Cached as a plain
tarball under `cache_dir()/lab-rootfs/`, keyed by the package list and the image recipe, and extracted next
to it; a second checkout on the same machine reuses both.

Also provides the machine-side tools: debootstrap (apt) and systemd-nspawn, extracted from the
systemd-container .deb that matches the machine's systemd (so the machine's systemd is never upgraded).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from govcloud.errors import UserError
from govcloud.paths import cache_dir

SUITE = "bookworm"
PACKAGES = sorted({
    # what the brief asks for: hardening, audit, backup
    "openssh-server", "openssh-sftp-server", "python3", "sudo", "procps", "iproute2", "nftables", "auditd",
    "rsyslog", "logrotate", "libpam-pwquality", "cracklib-runtime", "cron", "chrony", "aide", "acl",
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "mariadb-client", "sqlite3", "curl",
    "ca-certificates",
    # what ansible modules / testinfra / operators use
    "python3-apt", "iputils-ping", "netcat-openbsd", "rsync", "less", "openssl", "lsof", "libcap2-bin",
    "psmisc", "util-linux",
})
# Bump when the recipe below changes: the cache key includes it.
RECIPE = "5"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def key() -> str:
    text = "\n".join([SUITE, RECIPE, *PACKAGES])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def base() -> Path:
    return cache_dir() / "lab-rootfs"


def tarball() -> Path:
    return base() / f"debian12-{key()}.tar"


def root() -> Path:
    """The extracted, ready rootfs (exists once `ensure()` returned)."""
    return base() / key() / "root"


def _log(msg: str) -> None:
    print(f"[lab-hosts] {msg}", flush=True)


def mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources), else deb.debian.org."""
    candidates: list[str] = []
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]:
        try:
            text = f.read_text()
        except OSError:
            continue
        for block in text.split("\n\n"):
            if re.search(r"^Suites:.*\bbookworm\b", block, re.M) and "debian-security" not in block:
                m = re.search(r"^URIs:\s*(\S+)", block, re.M)
                if m:
                    candidates.append(m.group(1))
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
            if "security" not in m.group(1):
                candidates.append(m.group(1))
    return candidates[0] if candidates else DEFAULT_MIRROR


def _apt_install(*pkgs: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", *pkgs]
    for attempt in range(5):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode == 0:
            return
        if attempt in (0, 2):  # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-q"], env=env,
                           capture_output=True)
        time.sleep(5 * (attempt + 1))
    raise UserError(f"apt-get install {' '.join(pkgs)}: failed: {r.stderr.strip()[-400:]}; "
                    "check the Debian mirror in /etc/apt/sources.list*")


def ensure_machine_tools() -> None:
    """debootstrap and the small tools the lab needs on the machine (installed through apt if missing)."""
    missing = [pkg for tool, pkg in (("debootstrap", "debootstrap"), ("ssh", "openssh-client"),
                                     ("ssh-keygen", "openssh-client"), ("nsenter", "util-linux"),
                                     ("tc", "iproute2"), ("ip", "iproute2"))
               if shutil.which(tool) is None]
    if missing:
        _apt_install(*sorted(set(missing)))


def _systemd_version() -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "systemd"], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        raise UserError("systemd package not installed on this machine: systemd-nspawn needs its "
                        "libsystemd-shared; install `systemd` with apt")
    return r.stdout.strip()


def nspawn() -> str:
    """Path of a systemd-nspawn matching the machine's systemd, extracted from systemd-container's .deb."""
    system = shutil.which("systemd-nspawn")
    if system:
        return system
    ver = _systemd_version()
    dest = cache_dir() / "systemd-container" / ver
    binary = dest / "usr/bin/systemd-nspawn"
    if binary.exists():
        return str(binary)
    dl = cache_dir() / "systemd-container" / f"dl-{os.getpid()}"
    shutil.rmtree(dl, ignore_errors=True)
    dl.mkdir(parents=True)
    os.chmod(dl, 0o777)  # apt drops privileges to _apt for downloads
    for attempt in range(5):
        r = subprocess.run(["apt-get", "download", f"systemd-container={ver}"], cwd=dl,
                           capture_output=True, text=True)
        if r.returncode == 0:
            break
        if attempt in (0, 2):
            subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-q"], capture_output=True)
        time.sleep(5 * (attempt + 1))
    else:
        raise UserError(f"apt-get download systemd-container={ver}: {r.stderr.strip()[-300:]}; "
                        "the lab hosts need systemd-nspawn matching the machine's systemd")
    deb = next(dl.glob("systemd-container_*.deb"))
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    shutil.rmtree(dl, ignore_errors=True)
    return str(binary)


def _chroot(rootdir: Path, *cmd: str) -> None:
    subprocess.run(["chroot", str(rootdir), *cmd], check=True, capture_output=True,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})


def _customize(rootdir: Path) -> None:
    """Turn the debootstrap tree into a shareable host image (per-host parts are added at host start)."""
    etc = rootdir / "etc"
    for f in (etc / "ssh").glob("ssh_host_*"):
        f.unlink()  # generated per host
    (etc / "machine-id").write_text("")
    dbus_id = rootdir / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    (etc / "hostname").write_text("localhost\n")
    (etc / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    # The kernel refuses audit control from a container: auditd would fail at every boot.
    # Rules stay installable and verifiable as files.
    (etc / "systemd/system/auditd.service").unlink(missing_ok=True)
    os.symlink("/dev/null", etc / "systemd/system/auditd.service")
    # systemd-tmpfiles creates /run/nologin at boot and systemd-user-sessions removes it late; in a
    # container that can linger and block non-root SSH logins (the backup user on the SFTP site).
    (etc / "tmpfiles.d").mkdir(exist_ok=True)
    nologin = etc / "tmpfiles.d/systemd-nologin.conf"
    nologin.unlink(missing_ok=True)
    os.symlink("/dev/null", nologin)
    # Addresses come from a per-host .network file (written at host start).
    _chroot(rootdir, "systemctl", "enable", "systemd-networkd.service")
    # Nothing in a lab host can reach a mirror: apt's lists and the .deb cache are dead weight.
    for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in (rootdir / d).glob("*"):
            if f.is_file():
                f.unlink()
    (rootdir / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    (rootdir / "etc/gclab-image").write_text(f"govcloud lab image {key()} recipe {RECIPE}\n")


def build(dest_tar: Path) -> dict:
    """debootstrap + customize + tar. Returns figures (seconds, bytes, packages)."""
    ensure_machine_tools()
    work = base() / f"build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.monotonic()
    cmd = ["nice", "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
           str(work / "root"), mirror()]
    last = ""
    for attempt in range(1, 4):
        _log(f"debootstrap bookworm (attempt {attempt}) from {mirror()}")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            break
        last = (r.stdout + r.stderr)[-1500:]
        _log(f"debootstrap failed (rc {r.returncode}); retrying")
        shutil.rmtree(work / "root", ignore_errors=True)
        time.sleep(5 * attempt)
    else:
        shutil.rmtree(work, ignore_errors=True)
        raise UserError(f"debootstrap {SUITE} from {mirror()} failed 3 times: {last}; check the mirror")
    _customize(work / "root")
    npkg = len(subprocess.run(["chroot", str(work / "root"), "dpkg-query", "-W"], capture_output=True,
                              text=True).stdout.splitlines())
    tmp = dest_tar.with_name(dest_tar.name + f".tmp{os.getpid()}")
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(work / "root"),
                    "-cf", str(tmp), "."], check=True)
    tmp.rename(dest_tar)
    shutil.rmtree(work, ignore_errors=True)
    figures = {"seconds": round(time.monotonic() - t0, 1), "bytes": dest_tar.stat().st_size, "packages": npkg}
    (base() / f"debian12-{key()}.figures").write_text(
        f"build_seconds={figures['seconds']} tar_bytes={figures['bytes']} packages={npkg}\n")
    _log(f"rootfs built in {figures['seconds']} s: {figures['bytes'] // 2**20} MiB, {npkg} packages")
    return figures


def ensure() -> Path:
    """The extracted rootfs, building and/or extracting it if needed (call under the lab lock)."""
    r = root()
    if (r.parent / ".complete").exists():
        return r
    base().mkdir(parents=True, exist_ok=True)
    if not tarball().exists():
        build(tarball())
    t0 = time.monotonic()
    shutil.rmtree(r.parent, ignore_errors=True)
    r.mkdir(parents=True)
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(r), "-xf",
                    str(tarball())], check=True)
    (r.parent / ".complete").write_text(key() + "\n")
    _log(f"rootfs extracted in {time.monotonic() - t0:.1f} s")
    # Older image versions stay: running hosts may still use one as their overlay's lower layer.
    return r
