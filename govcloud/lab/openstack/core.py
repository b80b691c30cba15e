"""Lifecycle of the lab's OpenStack: up (idempotent, self-repairing), down, reset, status."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets as _secrets
import shutil
import string
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from govcloud import paths
from govcloud.errors import UserError
from govcloud.lab.openstack import layout, procs
from govcloud.lab.openstack.layout import REGIONS, Dirs, Service

APT_PACKAGES = {"mariadb-server": "/usr/sbin/mariadbd", "rabbitmq-server": "/usr/lib/rabbitmq/bin/rabbitmq-server",
                "memcached": "/usr/bin/memcached"}
SECRET_KEYS = ("admin", "operator", "service", "db", "rabbit", "swift_hash")


def log(msg: str) -> None:
    print(f"[lab openstack {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- secrets, templates, config files

def load_secrets(d: Dirs, create: bool = True) -> dict:
    if d.secrets.exists():
        data = json.loads(d.secrets.read_text())
        if all(k in data for k in SECRET_KEYS) and "fixed_key" in data:
            return data
    if not create:
        raise FileNotFoundError(d.secrets)
    data = {k: _secrets.token_urlsafe(18).replace("-", "x").replace("_", "y") for k in SECRET_KEYS}
    data["fixed_key"] = _secrets.token_hex(32)
    d.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(d.secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(d.secrets, 0o600)
    return data


def render(template: str, variables: dict[str, str]) -> str:
    """Fill ${name} placeholders; a missing variable is an error (never a silently empty setting)."""
    return string.Template((layout.TEMPLATES / template).read_text()).substitute(variables)


def _write(path: Path, text: str, mode: int = 0o640) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


def rabbit_definitions(sec: dict) -> dict:
    salt = os.urandom(4)
    digest = hashlib.sha256(salt + sec["rabbit"].encode()).digest()
    return {
        "users": [{"name": "govcloud", "password_hash": base64.b64encode(salt + digest).decode(),
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["administrator"]}],
        "vhosts": [{"name": r} for r in REGIONS],
        "permissions": [{"user": "govcloud", "vhost": r, "configure": ".*", "write": ".*", "read": ".*"}
                        for r in REGIONS],
    }


def node_uuid(nodename: str) -> str:
    """The stable node UUID of a fake hypervisor (same rule as drivers/nova_fake.py)."""
    return str(uuid.uuid5(uuid.UUID("6f1c3a52-93a4-4c55-9b0e-5a8d2f0c7e11"), nodename))


def render_all(d: Dirs, venv: Path, sec: dict) -> None:
    """Write every config file of the lab (unchanged files are left alone)."""
    g = layout.variables(d, sec)
    _write(d.etc / "my.cnf", render("mariadb.conf", g))
    _write(d.etc / "keystone" / "keystone.conf", render("keystone.conf", g))
    rb = d.etc / "rabbitmq"
    _write(rb / "rabbitmq.conf", render("rabbitmq.conf", g))
    _write(rb / "enabled_plugins", "[].\n")
    _write(rb / "rabbitmq-env.conf", "# govcloud lab: settings come from the environment\n")
    defs = rb / "definitions.json"
    if not defs.exists():  # a fresh salt each time would rewrite it: keep the first one
        _write(defs, json.dumps(rabbit_definitions(sec), indent=1), 0o600)
    etc = venv / "etc"
    for r in REGIONS:
        v = layout.variables(d, sec, r)
        c = d.rconf(r)
        _write(c / "placement" / "placement.conf", render("placement.conf", v))
        for name in ("nova.conf", "nova-db.conf"):
            _write(c / "nova" / name, render(name, v))
        for h in layout.compute_hosts(r):
            _write(c / "nova" / f"{h}.conf", render("nova-compute.conf", {**v, "host": h}))
            # nova-compute refuses to restart without its node identity file; the fake driver never writes
            # one. Same UUID as govcloud_lab_drivers.nova_fake derives from the node name.
            _write(d.rstate(r) / "nova" / h / "compute_id", node_uuid(h) + "\n", 0o644)
        _write(c / "nova" / "api-paste.ini", (etc / "nova" / "api-paste.ini").read_text())
        _write(c / "neutron" / "neutron.conf", render("neutron.conf", v))
        _write(c / "neutron" / "ml2_conf.ini", render("ml2_conf.ini", v))
        _write(c / "neutron" / "api-paste.ini", (etc / "neutron" / "api-paste.ini").read_text())
        _write(c / "glance" / "glance-api.conf", render("glance-api.conf", v))
        _write(c / "glance" / "glance-api-paste.ini", (etc / "glance" / "glance-api-paste.ini").read_text())
        _write(c / "cinder" / "cinder.conf", render("cinder.conf", v))
        _write(c / "cinder" / "api-paste.ini", (etc / "cinder" / "api-paste.ini").read_text())
        _write(c / "cinder" / "resource_filters.json", (etc / "cinder" / "resource_filters.json").read_text())
        for name in ("swift.conf", "proxy-server.conf", "account-server.conf", "container-server.conf",
                     "object-server.conf"):
            _write(c / "swift" / name, render(name, v))
    install_drivers(d, venv)


def install_drivers(d: Dirs, venv: Path | None = None) -> None:
    """Copy our drivers onto the services' PYTHONPATH, with the ML2 entry point stevedore looks for.

    Nova loads compute drivers only from its own nova.virt package: the fake hypervisor driver goes
    there, into our own services' venv.
    """
    if venv is not None:
        virt = next(iter((venv / "lib").glob("python3*/site-packages/nova/virt")), None)
        if virt is not None:
            _write(virt / "govcloud_lab_fake.py", (layout.HERE / "drivers" / "nova_fake.py").read_text(), 0o644)
    pkg = d.pylib / "govcloud_lab_drivers"
    src = layout.HERE / "drivers"
    for f in src.glob("*.py"):
        _write(pkg / f.name, f.read_text(), 0o644)
    dist = d.pylib / "govcloud_lab_drivers-1.0.dist-info"
    _write(dist / "METADATA", "Metadata-Version: 2.1\nName: govcloud-lab-drivers\nVersion: 1.0\n", 0o644)
    _write(dist / "entry_points.txt",
           "[neutron.ml2.mechanism_drivers]\ngovcloud_bind = govcloud_lab_drivers.ml2_bind:BindEverythingDriver\n",
           0o644)


def write_clouds_yaml(d: Dirs, sec: dict) -> Path:
    import yaml

    def cloud(user: str, password: str, project: str, domain: str) -> dict:
        return {
            "auth": {"auth_url": f"http://127.0.0.1:{layout.SHARED_PORTS['keystone']}/v3", "username": user,
                     "password": password, "project_name": project, "user_domain_name": domain,
                     "project_domain_name": domain},
            "region_name": "primary", "regions": list(REGIONS), "identity_api_version": 3,
            "interface": "public",
        }

    data = {"clouds": {
        "govcloud-admin": cloud("admin", sec["admin"], "admin", "Default"),
        "govcloud-operator": cloud("operator", sec["operator"], "operator", "city"),
    }}
    _write(d.clouds_yaml, yaml.safe_dump(data, sort_keys=False), 0o600)
    os.chmod(d.clouds_yaml, 0o600)
    return d.clouds_yaml


# ---------------------------------------------------------------- prerequisites: apt packages, services' venv

def ensure_apt() -> None:
    missing = [pkg for pkg, binary in APT_PACKAGES.items() if not Path(binary).exists()]
    if not Path("/usr/include/python3.11").exists() and not Path(sys.base_prefix, "include").exists():
        missing.append("python3-dev")
    if shutil.which("gcc") is None:
        missing.append("gcc")
    if not missing:
        return
    log(f"installing apt packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
        if r.returncode != 0 and argv[1] == "install":
            raise UserError(f"lab openstack: `{' '.join(argv)}` failed: {r.stderr.strip()[-1500:]}; "
                            "install these packages and run `govcloud lab up` again")


def ensure_venv() -> Path:
    """The services' own venv, cached under cache_dir() by the hash of the pinned constraints."""
    venv = layout.venv_dir()
    done = venv / ".govcloud-complete"
    if done.exists():
        return venv
    log(f"building the OpenStack services' venv {venv} (one time per constraints change)")
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = Path(sys.base_prefix) / "bin" / "python3"
    if not python.exists():
        python = Path(sys.executable)
    out = venv.parent / f"{venv.name}.log"
    with open(out, "w") as f:
        def run(argv: list[str]) -> None:
            r = subprocess.run(["nice", *argv], stdout=f, stderr=subprocess.STDOUT)
            if r.returncode:
                raise UserError(f"lab openstack: building the services' venv failed ({' '.join(argv[:3])}...); "
                                f"log {out}:\n{_tail(out)}")

        run([str(python), "-m", "venv", str(venv)])
        uv = shutil.which("uv", path=str(paths.venv_bin())) or shutil.which("uv")
        reqs = ["-r", str(layout.SERVICES_IN), "-c", str(layout.CONSTRAINTS)]
        if uv:
            run([uv, "pip", "install", "--python", str(venv / "bin" / "python"), *reqs])
        else:
            run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *reqs])
    done.write_text(layout.venv_key())
    return venv


# ---------------------------------------------------------------- helpers

def _tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _fail(d: Dirs, name: str, what: str) -> UserError:
    logf = d.logs / f"{name}.log"
    return UserError(f"lab openstack: service {name}: {what}; log {logf}:\n{_tail(logf)}\n"
                     "fix the cause, then run `govcloud lab up` again (or `govcloud lab reset`)")


@contextmanager
def _lock(d: Dirs):
    d.root.mkdir(parents=True, exist_ok=True)
    with open(d.root / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run_step(d: Dirs, venv: Path, name: str, argv: list[str], env: dict | None = None,
              input_text: str | None = None) -> str:
    """Run a one-shot setup command; its output goes to logs/setup-<name>.log."""
    logf = d.logs / f"setup-{name}.log"
    logf.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**layout.base_env(d, venv), **(env or {})}
    r = subprocess.run(argv, env=full_env, input=input_text, capture_output=True, text=True, cwd=str(d.data))
    with open(logf, "a") as f:
        f.write(f"$ {' '.join(argv)}\n{r.stdout}{r.stderr}\n")
    if r.returncode:
        raise UserError(f"lab openstack: setup step {name} failed (exit {r.returncode}); log {logf}:\n"
                        f"{_tail(logf)}\nrun `govcloud lab reset` then `govcloud lab up`")
    return r.stdout


def _port_listening(port: int, listening: dict[int, set[int]] | None = None) -> bool:
    return port in (listening if listening is not None else procs.listening_ports())


def _healthy(d: Dirs, svc: Service, listening: dict[int, set[int]] | None = None) -> bool:
    if not procs.running(d.run, svc.name):
        return False
    return svc.port is None or _port_listening(svc.port, listening)


def _wait(pred, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return True
        except Exception:  # noqa: BLE001 - readiness probes fail in many ways while starting
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _free_port_or_fail(d: Dirs, svc: Service) -> None:
    """A port held by a leftover lab process is freed; one held by anything else is an error."""
    if svc.port is None:
        return
    listening = procs.listening_ports()
    if svc.port not in listening:
        return
    owners = procs.socket_owners(listening[svc.port])
    ours = procs.marked(str(d.root))
    if owners and owners <= ours:
        log(f"{svc.name}: port {svc.port} held by leftover lab processes {sorted(owners)}: stopping them")
        procs.stop_pids(owners, 10)
        return
    other = procs.lab_marker_of(owners)
    if other:
        raise _fail(d, svc.name, f"port 127.0.0.1:{svc.port} is held by the OpenStack lab of another checkout "
                                 f"({other}): run `govcloud lab down --only openstack` there first")
    raise _fail(d, svc.name, f"port 127.0.0.1:{svc.port} is used by another program (pids {sorted(owners)})")


def fingerprint(d: Dirs, venv: Path, svc: Service) -> str:
    """Hash of what a service runs with (command, environment, config files): a change means restart."""
    h = hashlib.sha256(json.dumps([svc.argv, sorted(svc.env.items())]).encode())
    for p in svc.conf:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            if f.suffix in (".pyc", ".tmp") or "__pycache__" in f.parts:
                continue
            try:
                h.update(str(f).encode() + b"\0" + f.read_bytes())
            except OSError:
                continue
    return h.hexdigest()[:16]


def _stale(d: Dirs, venv: Path, svc: Service) -> bool:
    rec = procs.read(d.run, svc.name)
    return bool(rec) and rec.get("fingerprint") not in (None, fingerprint(d, venv, svc))


def start_service(d: Dirs, venv: Path, svc: Service) -> None:
    procs.stop(d.run, svc.name, timeout=10)  # leftovers of a crashed instance (whole session)
    _free_port_or_fail(d, svc)
    env = {**layout.base_env(d, venv), **svc.env}
    procs.start(d.run, svc.name, svc.argv, env, d.logs / f"{svc.name}.log", cwd=d.data,
                meta={"fingerprint": fingerprint(d, venv, svc)})


def wait_listening(d: Dirs, svcs: list[Service], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = [s for s in svcs if s.port is not None]
    while True:
        listening = procs.listening_ports()
        for s in list(svcs):
            if not procs.running(d.run, s.name):
                raise _fail(d, s.name, "exited while starting")
        pending = [s for s in pending if s.port not in listening]
        if not pending:
            return
        if time.monotonic() > deadline:
            s = pending[0]
            raise _fail(d, s.name, f"does not listen on 127.0.0.1:{s.port} after {timeout:.0f} s")
        time.sleep(0.5)


# ---------------------------------------------------------------- first-time initialisation

def _sql(d: Dirs, venv: Path, sql: str, name: str = "mariadb-sql") -> None:
    _run_step(d, venv, name, ["/usr/bin/mariadb", f"--defaults-file={d.etc / 'my.cnf'}", "-u", "root"],
              input_text=sql)


def init_mariadb_datadir(d: Dirs, venv: Path) -> None:
    datadir = d.data / "mysql" / "data"
    if (datadir / "mysql").is_dir():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    _run_step(d, venv, "mariadb-install-db",
              ["/usr/bin/mariadb-install-db", f"--defaults-file={d.etc / 'my.cnf'}", "--user=root",
               "--auth-root-authentication-method=socket", "--skip-test-db"])


def create_databases(d: Dirs, venv: Path, sec: dict) -> None:
    stmts = [f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8;" for db in layout.databases()]
    for host in ("127.0.0.1", "localhost"):
        stmts += [f"CREATE USER IF NOT EXISTS 'govcloud'@'{host}' IDENTIFIED BY '{sec['db']}';",
                  f"GRANT ALL PRIVILEGES ON *.* TO 'govcloud'@'{host}';"]
    stmts.append("FLUSH PRIVILEGES;")
    _sql(d, venv, "\n".join(stmts) + "\n")


def init_keystone(d: Dirs, venv: Path, sec: dict) -> None:
    b = venv / "bin"
    conf = ["--config-file", str(d.etc / "keystone" / "keystone.conf")]
    for sub in ("fernet-keys", "credential-keys"):
        (d.data / "keystone" / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(d.data / "keystone" / sub, 0o700)
    _run_step(d, venv, "keystone-db-sync", [str(b / "keystone-manage"), *conf, "db_sync"])
    _run_step(d, venv, "keystone-fernet", [str(b / "keystone-manage"), *conf, "fernet_setup",
                                           "--keystone-user", "root", "--keystone-group", "root"])
    _run_step(d, venv, "keystone-credential", [str(b / "keystone-manage"), *conf, "credential_setup",
                                               "--keystone-user", "root", "--keystone-group", "root"])
    url = f"http://127.0.0.1:{layout.SHARED_PORTS['keystone']}/v3"
    _run_step(d, venv, "keystone-bootstrap",
              [str(b / "keystone-manage"), *conf, "bootstrap", "--bootstrap-username", "admin",
               "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
               "--bootstrap-service-name", "keystone", "--bootstrap-region-id", "primary",
               "--bootstrap-admin-url", url, "--bootstrap-internal-url", url, "--bootstrap-public-url", url],
              env={"OS_BOOTSTRAP_PASSWORD": sec["admin"]})


def init_region_chains(d: Dirs, venv: Path, sec: dict, region: str) -> list:
    """Per-region setup steps as independent chains (each a list of callables run in order)."""
    b = venv / "bin"
    c = d.rconf(region)
    r = region
    nova = [str(b / "nova-manage"), "--config-file", str(c / "nova" / "nova.conf"),
            "--config-file", str(c / "nova" / "nova-db.conf")]
    neutron = ["--config-file", str(c / "neutron" / "neutron.conf"),
               "--config-file", str(c / "neutron" / "ml2_conf.ini")]

    def step(name, argv, **kw):
        return lambda: _run_step(d, venv, f"{r}-{name}", argv, **kw)

    def swift_rings():
        sw = c / "swift"
        for kind, port in (("account", "swift_account"), ("container", "swift_container"),
                           ("object", "swift_object")):
            builder = str(sw / f"{kind}.builder")
            ring = sw / f"{kind}.ring.gz"
            if ring.exists():
                continue
            Path(builder).unlink(missing_ok=True)
            rb = str(b / "swift-ring-builder")
            _run_step(d, venv, f"{r}-swift-ring", [rb, builder, "create", "8", "1", "1"])
            _run_step(d, venv, f"{r}-swift-ring",
                      [rb, builder, "add", f"r1z1-127.0.0.1:{layout.region_ports(r)[port]}/d1", "100"])
            _run_step(d, venv, f"{r}-swift-ring", [rb, builder, "rebalance"])
        for sub in ("devices/d1", "recon"):
            (d.rstate(r) / "swift" / sub).mkdir(parents=True, exist_ok=True)

    def dirs_for_region():
        for sub in ("nova/locks", "neutron/locks", "glance/images", "glance/staging", "glance/tasks",
                    "glance/locks", "cinder/locks"):
            (d.rstate(r) / sub).mkdir(parents=True, exist_ok=True)
        for h in layout.compute_hosts(r):
            (d.rstate(r) / "nova" / h / "instances").mkdir(parents=True, exist_ok=True)

    return [
        [dirs_for_region,
         step("nova-api-db-sync", [*nova, "api_db", "sync"]),
         step("nova-map-cell0", [*nova, "cell_v2", "map_cell0", "--database_connection",
                                 layout.db_url(sec, f"{r}_nova_cell0")]),
         step("nova-create-cell1", [*nova, "cell_v2", "create_cell", "--name", "cell1"]),
         step("nova-db-sync", [*nova, "db", "sync"])],
        [step("neutron-db-sync", [str(b / "neutron-db-manage"), *neutron, "upgrade", "heads"])],
        [step("placement-db-sync", [str(b / "placement-manage"), "--config-file",
                                    str(c / "placement" / "placement.conf"), "db", "sync"]),
         step("glance-db-sync", [str(b / "glance-manage"), "--config-file", str(c / "glance" / "glance-api.conf"),
                                 "db_sync"]),
         step("cinder-db-sync", [str(b / "cinder-manage"), "--config-file", str(c / "cinder" / "cinder.conf"),
                                 "db", "sync"]),
         swift_rings],
    ]


def _run_chains(chains: list[list], workers: int) -> None:
    def run(chain):
        for fn in chain:
            fn()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, ch) for ch in chains]
        errors = []
        for fut in futures:
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001 - report the first, after every chain stopped
                errors.append(e)
        if errors:
            raise errors[0]


# ---------------------------------------------------------------- public API

def _all_services(d: Dirs, venv: Path | None = None) -> list[Service]:
    return layout.services(d, venv or layout.venv_dir())


def up() -> dict:
    """Start the lab (idempotent); returns status() once every region is usable."""
    d = layout.dirs()
    with _lock(d):
        t0 = time.monotonic()
        ensure_apt()
        venv = ensure_venv()
        marker = _read_marker(d)
        if marker is None and d.data.exists():
            log("found a half-initialised lab (no completion marker): resetting it")
            _down(d)
            _wipe(d)
        elif marker is not None and marker.get("venv") != layout.venv_key():
            log("the services' versions changed since this lab was initialised: resetting it")
            _down(d)
            _wipe(d)
            marker = None
        for sub in (d.data, d.logs, d.run, d.data / "home", d.data / "rabbitmq"):
            sub.mkdir(parents=True, exist_ok=True)
        sec = load_secrets(d)
        render_all(d, venv, sec)
        write_clouds_yaml(d, sec)
        svcs = _all_services(d, venv)
        by_group = {g: [s for s in svcs if s.group == g] for g in ("infra", "keystone", "region")}
        listening = procs.listening_ports()
        todo = [s for s in svcs if not _healthy(d, s, listening)]
        stale = [s for s in svcs if s not in todo and _stale(d, venv, s)]
        if stale:
            log(f"configuration changed: restarting {', '.join(s.name for s in stale)}")
            todo += stale
        if not todo and marker is not None:
            from govcloud.lab.openstack import seed

            seed.wait_ready(d, sec, timeout=120)
            return status()
        first = marker is None
        restarted_infra = [s.name for s in todo if s.name in ("mariadb", "rabbitmq")]
        if restarted_infra and not first:
            # services that outlived their database/message bus may hang on lost RPC replies: restart them
            more = [s for s in by_group["region"] if s not in todo]
            if more:
                log(f"{', '.join(restarted_infra)} restarted: restarting the region services too")
                todo += more
        if first:
            init_mariadb_datadir(d, venv)
        infra = [s for s in by_group["infra"] if s in todo]
        for s in infra:
            log(f"starting {s.name}")
            start_service(d, venv, s)
        wait_listening(d, by_group["infra"], 120)
        if first:
            create_databases(d, venv, sec)
            chains = [[lambda: init_keystone(d, venv, sec)]]
            for r in REGIONS:
                chains += init_region_chains(d, venv, sec, r)
            log(f"initialising databases ({len(chains)} chains)")
            _run_chains(chains, workers=4)
            _write_marker(d)  # databases done: a later failure restarts services, it does not re-initialise
        from govcloud.lab.openstack import seed

        seeded = bool((_read_marker(d) or {}).get("seeded"))
        if seeded:
            # service users exist already: Keystone and the region services start together
            rest = [s for s in by_group["keystone"] + by_group["region"] if s in todo]
            if rest:
                log(f"starting {len(rest)} services: {', '.join(s.name for s in rest)}")
            for s in rest:
                start_service(d, venv, s)
            wait_listening(d, by_group["keystone"], 120)
            seed.identity(d, sec)
        else:
            for s in [s for s in by_group["keystone"] if s in todo]:
                log(f"starting {s.name}")
                start_service(d, venv, s)
            wait_listening(d, by_group["keystone"], 120)
            seed.identity(d, sec)  # service users must exist before nova-conductor/scheduler start
            rest = [s for s in by_group["region"] if s in todo]
            if rest:
                log(f"starting {len(rest)} services: {', '.join(s.name for s in rest)}")
            for s in rest:
                start_service(d, venv, s)
        wait_listening(d, by_group["region"], 240)
        seed.wait_ready(d, sec, timeout=300)
        seed.resources(d, sec)
        if not seeded:
            _write_marker(d, seeded=True)
        log(f"usable after {time.monotonic() - t0:.0f} s")
    return status()


def _read_marker(d: Dirs) -> dict | None:
    try:
        return json.loads(d.marker.read_text())
    except (OSError, ValueError):
        return None


def _write_marker(d: Dirs, seeded: bool = False) -> None:
    d.marker.write_text(json.dumps({"venv": layout.venv_key(), "seeded": seeded,
                                    "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))


INFRA = ("mariadb", "memcached", "dr-memcached", "epmd", "rabbitmq")


def _stop_many(d: Dirs, names: list[str], timeout: float) -> None:
    """Stop several recorded services at once: one SIGTERM round, one shared deadline, then SIGKILL."""
    pids: set[int] = set()
    for n in names:
        rec = procs.read(d.run, n)
        if rec:
            pids |= set(procs.session_members({rec["pid"]}))
            if procs.alive(rec["pid"], rec.get("started")):
                pids.add(rec["pid"])
    procs.stop_pids(pids, timeout)
    for n in names:
        procs.pidfile(d.run, n).unlink(missing_ok=True)


def _down(d: Dirs) -> None:
    rec = procs.recorded(d.run)
    # OpenStack services first (they hold connections to the infrastructure), then the infrastructure
    _stop_many(d, [n for n in rec if n not in INFRA], timeout=20)
    _stop_many(d, [n for n in rec if n in INFRA and n != "epmd"], timeout=30)
    _stop_many(d, [n for n in rec if n == "epmd"], timeout=10)
    # anything else that still carries the lab's marker (e.g. an epmd started by Erlang itself)
    leftovers = procs.marked(str(d.root))
    if leftovers:
        procs.stop_pids(leftovers, 10)


def down() -> None:
    """Stop every process the lab started (by recorded PID and session, incl. descendants). Idempotent."""
    d = layout.dirs()
    if not d.root.exists():
        return
    with _lock(d):
        _down(d)


def _wipe(d: Dirs) -> None:
    for sub in (d.data, d.etc, d.run, d.pylib):
        shutil.rmtree(sub, ignore_errors=True)
    d.clouds_yaml.unlink(missing_ok=True)


def reset() -> None:
    """down() and wipe all lab data (databases, images, volumes, rings, configs). Secrets are kept."""
    d = layout.dirs()
    d.root.mkdir(parents=True, exist_ok=True)
    with _lock(d):
        _down(d)
        _wipe(d)


def lab_pids(d: Dirs) -> dict[int, str]:
    """{pid: service name} of every live process of the lab."""
    rec = procs.recorded(d.run)
    sids = {r["pid"]: name for name, r in rec.items() if procs.alive(r["pid"], r.get("started"))}
    members = procs.session_members(set(sids))
    return {pid: sids[sid] for pid, sid in members.items()}


def status() -> dict:
    """Fast (< 2 s), never raises: what runs, where the clouds.yaml and logs are, how much memory."""
    d = layout.dirs()
    out: dict = {"state": "down", "clouds_yaml": str(d.clouds_yaml), "clouds": list(layout.CLOUDS),
                 "regions": list(REGIONS), "services": {}, "memory_mib": 0, "memory_by_region": {},
                 "logs": str(d.logs), "ports": layout.all_ports(), "initialized": False}
    try:
        out["initialized"] = d.marker.exists()
        svcs = _all_services(d)
        listening = procs.listening_ports()
        out["services"] = {s.name: ("up" if _healthy(d, s, listening) else "down") for s in svcs}
        ups = sum(v == "up" for v in out["services"].values())
        if ups == len(svcs) and out["initialized"]:
            out["state"] = "up"
        elif ups:
            out["state"] = "degraded"
        region_of = {s.name: (s.region or "shared") for s in svcs}
        by_region: dict[str, int] = {}
        total = 0
        pids = lab_pids(d)
        for pid, name in pids.items():
            kib = procs.pss_kib(pid)
            total += kib
            key = region_of.get(name, "shared")
            by_region[key] = by_region.get(key, 0) + kib
        out["memory_mib"] = round(total / 1024)
        out["memory_by_region"] = {k: round(v / 1024) for k, v in sorted(by_region.items())}
        out["processes"] = len(pids)
        out["venv"] = str(layout.venv_dir())
    except Exception as e:  # noqa: BLE001 - status must never raise (doctor calls it)
        out["error"] = f"{type(e).__name__}: {e}"
    return out
