"""The two DR sites of the lab, started with the hosts.

- `samecity` (host `site-samecity`, 10.250.0.2): SFTP over SSH for a dedicated backup user `drbackup`
  (key auth only, the lab generates the client key), repositories under /srv/backup/repos.
- `remote` (host `site-remote`, 10.250.0.3): restic's rest-server on :8000 with TLS (a per-lab CA and a
  server certificate generated here), bcrypt htpasswd, `--private-repos --append-only`; no unauthenticated
  access. `site_user(tenant)` adds a user on demand and makes rest-server reload its htpasswd (SIGHUP).

Both sites keep their data on the host's size-limited tmpfs disk: `faults.fill_disk` can fill it safely.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import re
import secrets
import ssl
import subprocess
import time
from pathlib import Path

from govcloud.errors import UserError
from govcloud.lab.hosts import core, sysutil

SAMECITY = {"name": "site-samecity", "address": str(core.NETWORK.network_address + 2)}
REMOTE = {"name": "site-remote", "address": str(core.NETWORK.network_address + 3)}
SITE_DISK_MIB = 2048
BACKUP_USER = "drbackup"
BACKUP_HOME = "/srv/backup"
REPO_BASE = "/srv/backup/repos"
REST_PORT = 8000
REST_DATA = "/srv/rest"
USER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def sites_dir() -> Path:
    return core.base() / "sites"


def _chroot(merged: Path, *cmd: str) -> None:
    r = subprocess.run(["chroot", str(merged), *cmd], capture_output=True, text=True,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
    if r.returncode != 0:
        raise RuntimeError(f"chroot {' '.join(cmd)}: {r.stderr.strip()}")


# ---------------------------------------------------------------- samecity (SFTP)

def client_key() -> Path:
    return sites_dir() / "samecity_id_ed25519"


def samecity_known_hosts() -> Path:
    return sites_dir() / "samecity_known_hosts"


def _provision_samecity(rec: dict, merged: Path) -> None:
    sites_dir().mkdir(parents=True, exist_ok=True)
    if not client_key().exists():
        sysutil.sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "govcloud-backup", "-f",
                   str(client_key()))
    _chroot(merged, "useradd", "-m", "-d", BACKUP_HOME, "-s", "/bin/sh", "-U", BACKUP_USER)
    ssh = merged / BACKUP_HOME.lstrip("/") / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(client_key().with_suffix(".pub").read_text())
    os.chmod(ssh / "authorized_keys", 0o600)
    (merged / REPO_BASE.lstrip("/")).mkdir(mode=0o750, exist_ok=True)
    _chroot(merged, "chown", "-R", f"{BACKUP_USER}:{BACKUP_USER}", BACKUP_HOME)
    samecity_known_hosts().write_text(
        "".join(f"{rec['address']} {' '.join(k.split()[:2])}\n" for k in rec["hostkeys"]))


def _samecity_ready(rec: dict, timeout: float = 30) -> None:
    argv = ["ssh", "-i", str(client_key()), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={samecity_known_hosts()}", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", f"{BACKUP_USER}@{rec['address']}",
            f"test -w {REPO_BASE}"]
    deadline = time.monotonic() + timeout
    while True:
        r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise UserError(f"DR site samecity: {BACKUP_USER} cannot log in: {r.stderr.strip()}")
        time.sleep(0.3)


# ---------------------------------------------------------------- remote (rest-server, TLS)

def ca_cert() -> Path:
    return sites_dir() / "ca.crt"


def users_dir() -> Path:
    return sites_dir() / "rest-users"


def _tls_material(address: str, hostname: str) -> tuple[bytes, bytes]:
    """A per-lab CA (kept in sites_dir) and a server certificate for the remote site."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key_path = sites_dir() / "ca.key"
    if ca_cert().exists() and ca_key_path.exists():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(ca_cert().read_bytes())
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govcloud lab CA")])
        ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False,
                                           encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        ca_key_path.write_bytes(ca_key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
        os.chmod(ca_key_path, 0o600)
        ca_cert().write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname),
                                                        x509.IPAddress(ipaddress.ip_address(address))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


UNIT = """[Unit]
Description=restic rest-server (govcloud lab remote DR site)
After=network-online.target

[Service]
User=rest-server
Group=rest-server
ExecStart=/usr/local/bin/rest-server --path {data} --listen :{port} --tls \
 --tls-cert /etc/rest-server/server.crt --tls-key /etc/rest-server/server.key \
 --htpasswd-file /etc/rest-server/htpasswd --private-repos --append-only
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
"""


def _provision_remote(rec: dict, merged: Path) -> None:
    sites_dir().mkdir(parents=True, exist_ok=True)
    users_dir().mkdir(mode=0o700, exist_ok=True)
    for f in users_dir().glob("*.password"):
        f.unlink()  # a fresh site has no users
    _chroot(merged, "useradd", "-r", "-M", "-d", REST_DATA, "-s", "/usr/sbin/nologin", "-U", "rest-server")
    etc = merged / "etc/rest-server"
    etc.mkdir(mode=0o750, exist_ok=True)
    cert, key = _tls_material(rec["address"], rec["hostname"])
    (etc / "server.crt").write_bytes(cert)
    (etc / "server.key").write_bytes(key)
    os.chmod(etc / "server.key", 0o640)
    (etc / "htpasswd").write_text("")
    os.chmod(etc / "htpasswd", 0o640)
    (merged / REST_DATA.lstrip("/")).mkdir(mode=0o750, exist_ok=True)
    _chroot(merged, "chown", "-R", "root:rest-server", "/etc/rest-server")
    _chroot(merged, "chown", "rest-server:rest-server", REST_DATA)
    unit = merged / "etc/systemd/system/rest-server.service"
    unit.write_text(UNIT.format(data=REST_DATA, port=REST_PORT))
    wants = merged / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(exist_ok=True)
    (wants / "rest-server.service").unlink(missing_ok=True)
    os.symlink("/etc/systemd/system/rest-server.service", wants / "rest-server.service")


def _https_status(address: str, path: str = "/", auth: tuple[str, str] | None = None) -> int:
    ctx = ssl.create_default_context(cafile=str(ca_cert()))
    conn = http.client.HTTPSConnection(address, REST_PORT, context=ctx, timeout=5)
    headers = {}
    if auth:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def _remote_ready(rec: dict, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = _https_status(rec["address"])
            if last == 401:
                return
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            last = e
        time.sleep(0.3)
    raise UserError(f"DR site remote: rest-server not answering with TLS + auth at "
                    f"https://{rec['address']}:{REST_PORT}/ ({last}); see `journalctl -u rest-server` in "
                    f"{rec['name']}")


# ---------------------------------------------------------------- lifecycle hooks used by lab.up()

def ensure(st: dict) -> list[str]:
    """Create missing/broken sites (under the lock). Returns the names created."""
    created = []
    for spec, prov in ((SAMECITY, _provision_samecity), (REMOTE, _provision_remote)):
        rec = st["hosts"].get(spec["name"])
        if rec and core.running(rec):
            continue
        core.create(st, spec["name"], "site", address=spec["address"], disk_mib=SITE_DISK_MIB,
                    provision=prov)
        created.append(spec["name"])
    return created


def wait_ready(st: dict) -> None:
    if SAMECITY["name"] in st["hosts"]:
        _samecity_ready(st["hosts"][SAMECITY["name"]])
    rec = st["hosts"].get(REMOTE["name"])
    if rec and "rest-server" in rec.get("binaries", {}):
        _remote_ready(rec)


# ---------------------------------------------------------------- public

def sites() -> dict:
    """Everything a backup client needs to reach both DR sites."""
    st = core.load()
    out = {}
    sc = st["hosts"].get(SAMECITY["name"])
    if sc:
        out["samecity"] = {
            "kind": "sftp", "host": sc["name"], "address": sc["address"], "port": 22,
            "user": BACKUP_USER, "ssh_key": str(client_key()),
            "ssh_public_key": str(client_key().with_suffix(".pub")),
            "known_hosts": str(samecity_known_hosts()), "base_path": REPO_BASE,
            "repository_prefix": f"sftp:{BACKUP_USER}@{sc['address']}:{REPO_BASE}/",
            "state": "running" if core.running(sc) else "stopped",
        }
    rm = st["hosts"].get(REMOTE["name"])
    if rm:
        has_bin = "rest-server" in rm.get("binaries", {})
        out["remote"] = {
            "kind": "rest", "host": rm["name"], "address": rm["address"], "port": REST_PORT,
            "url": f"https://{rm['address']}:{REST_PORT}/", "ca_cert": str(ca_cert()),
            "repository_prefix": f"rest:https://{rm['address']}:{REST_PORT}/",
            "repository_template": f"rest:https://<user>:<password>@{rm['address']}:{REST_PORT}/<user>/<repo>",
            "append_only": True, "private_repos": True, "tls": True,
            "state": ("running" if core.running(rm) else "stopped") if has_bin
            else "unavailable: rest-server binary missing from .venv/bin (run `govcloud setup`)",
        }
    return out


def _user_accepted(rec: dict, user: str, password: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if _https_status(rec["address"], f"/{user}/config", auth=(user, password)) in (200, 404):
                return True
        except (OSError, ssl.SSLError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)


def site_user(tenant: str) -> dict:
    """A rest-server user named after the tenant (private repos: it may only use /<tenant>/...), with its
    password in a 0600 file. Idempotent: an existing user keeps its password."""
    if not USER_RE.match(tenant or ""):
        raise UserError(f"site user {tenant!r}: use lowercase letters, digits, '.', '_' or '-'")
    import bcrypt

    with core.locked():
        st = core.load()
        rec = st["hosts"].get(REMOTE["name"])
        if not rec or not core.running(rec):
            raise UserError("DR site remote: not running; start the lab hosts (`govcloud lab up`)")
        htpasswd = core.node_dir(rec["name"]) / "merged/etc/rest-server/htpasswd"
        pwfile = users_dir() / f"{tenant}.password"
        lines = [ln for ln in htpasswd.read_text().splitlines() if ln.strip()]
        users = {ln.split(":", 1)[0] for ln in lines}
        if pwfile.exists() and tenant in users:
            return {"user": tenant, "password_file": str(pwfile)}
        password = secrets.token_urlsafe(24)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
        lines = [ln for ln in lines if ln.split(":", 1)[0] != tenant] + [f"{tenant}:{hashed}"]
        tmp = htpasswd.with_name(".htpasswd.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        st_old = os.stat(htpasswd)
        os.chown(tmp, st_old.st_uid, st_old.st_gid)
        os.chmod(tmp, 0o640)
        tmp.rename(htpasswd)
        users_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        # rest-server re-reads htpasswd on SIGHUP (by itself only every 30 s). In a container systemd
        # signals the main process but may report an error for the (absent) others: verify instead.
        core.run(rec["name"], "systemctl kill --kill-whom=main -s HUP rest-server.service", timeout=30,
                 check=False)
        if not _user_accepted(rec, tenant, password, 10):
            core.run(rec["name"], "systemctl restart rest-server.service", timeout=60)
            if not _user_accepted(rec, tenant, password, 30):
                raise UserError(f"DR site remote: new user {tenant} not accepted by rest-server; see "
                                f"`journalctl -u rest-server` in {rec['name']}")
    return {"user": tenant, "password_file": str(pwfile)}
