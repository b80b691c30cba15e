"""What the lab is made of: paths, ports, databases, template variables and the service table.

Pure functions (no process is started here), so the unit tests can check them.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from govcloud import paths

REGIONS = ("primary", "dr")
CLOUDS = ("govcloud-admin", "govcloud-operator")
HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
SERVICES_IN = HERE / "services.txt"
CONSTRAINTS = HERE / "constraints.txt"

# Shared infrastructure ports (127.0.0.1 only).
SHARED_PORTS = {
    "mariadb": 13306,
    "rabbitmq": 5672,
    "rabbitmq-dist": 25672,
    "epmd": 4369,
    "memcached": 11211,
    "keystone": 5000,
}
# Per-region API/server ports; region "dr" adds REGION_OFFSET to each.
BASE_PORTS = {
    "placement": 8778,
    "nova": 8774,
    "neutron": 9696,
    "glance": 9292,
    "cinder": 8776,
    "swift_proxy": 8080,
    "swift_object": 6200,
    "swift_container": 6201,
    "swift_account": 6202,
}
REGION_OFFSET = {"primary": 0, "dr": 10000}
# Swift caches account/container info under keys that do not name the region: dr gets its own memcached.
SWIFT_MEMCACHED = {"primary": 11211, "dr": 21211}
COMPUTE_HOSTS = 2


def region_ports(region: str) -> dict[str, int]:
    off = REGION_OFFSET[region]
    return {k: v + off for k, v in BASE_PORTS.items()}


def all_ports() -> dict[str, int]:
    """Every TCP port the lab listens on, by a readable name."""
    out = dict(SHARED_PORTS)
    for r in REGIONS:
        for k, v in region_ports(r).items():
            out[f"{r}-{k}"] = v
    out["dr-memcached"] = SWIFT_MEMCACHED["dr"]
    return out


def root() -> Path:
    return paths.state_dir() / "lab" / "openstack"


@dataclass(frozen=True)
class Dirs:
    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def pylib(self) -> Path:
        return self.root / "pylib"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def clouds_yaml(self) -> Path:
        return self.root / "clouds.yaml"

    @property
    def marker(self) -> Path:
        return self.data / "initialized.json"

    def rconf(self, region: str) -> Path:
        return self.etc / region

    def rstate(self, region: str) -> Path:
        return self.data / region


def dirs() -> Dirs:
    return Dirs(root())


def venv_key(python_version: str | None = None) -> str:
    """Cache key of the services' venv: the requirement list, the pinned constraints and the Python."""
    h = hashlib.sha256()
    h.update(SERVICES_IN.read_bytes())
    h.update(CONSTRAINTS.read_bytes())
    h.update((python_version or sys.version.split()[0]).encode())
    return h.hexdigest()[:16]


def venv_dir() -> Path:
    return paths.cache_dir() / "openstack-venv" / venv_key()


def databases() -> list[str]:
    out = ["keystone"]
    for r in REGIONS:
        out += [f"{r}_{n}" for n in ("placement", "nova_api", "nova_cell0", "nova", "neutron", "glance", "cinder")]
    return out


def db_url(secrets: dict, name: str) -> str:
    return (f"mysql+pymysql://govcloud:{secrets['db']}@127.0.0.1:{SHARED_PORTS['mariadb']}/{name}"
            "?charset=utf8")


def variables(d: Dirs, secrets: dict, region: str | None = None, **extra) -> dict[str, str]:
    v = {
        "state": str(d.data),
        "conf": str(d.etc),
        "logs": str(d.logs),
        "mysql_port": str(SHARED_PORTS["mariadb"]),
        "rabbit_port": str(SHARED_PORTS["rabbitmq"]),
        "memcached_port": str(SHARED_PORTS["memcached"]),
        "keystone_port": str(SHARED_PORTS["keystone"]),
        "db_password": secrets["db"],
        "rabbit_password": secrets["rabbit"],
        "service_password": secrets["service"],
        "swift_hash": secrets["swift_hash"],
        "fixed_key": secrets["fixed_key"],
    }
    if region:
        v["region"] = region
        v["rconf"] = str(d.rconf(region))
        v["rstate"] = str(d.rstate(region))
        v["swift_memcached_port"] = str(SWIFT_MEMCACHED[region])
        for k, p in region_ports(region).items():
            v[f"{k}_port"] = str(p)
    v.update({k: str(x) for k, x in extra.items()})
    return v


@dataclass
class Service:
    """One long-running process of the lab."""

    name: str
    argv: list[str]
    region: str | None = None
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    group: str = "region"  # "infra", "keystone" or "region": start order
    conf: list[Path] = field(default_factory=list)  # config files/dirs: a change restarts the service


def compute_hosts(region: str) -> list[str]:
    return [f"{region}-compute-{i}" for i in range(1, COMPUTE_HOSTS + 1)]


def _uwsgi(venv: Path, port: int, module: str, extra: list[str] | None = None) -> list[str]:
    return [
        str(venv / "bin" / "uwsgi"),
        "--http-socket", f"127.0.0.1:{port}",
        "--home", str(venv),
        "--module", f"{module}:application",
        "--master", "--processes", "1", "--threads", "4", "--lazy-apps",
        "--die-on-term", "--need-app", "--no-orphans", "--enable-threads",
        "--buffer-size", "65535",
        "--add-header", "Connection: close",
        "--disable-logging",
        *(extra or []),
    ]


def services(d: Dirs, venv: Path) -> list[Service]:
    """The lab's processes in start order."""
    b = venv / "bin"
    out = [
        Service("mariadb", ["/usr/sbin/mariadbd", f"--defaults-file={d.etc / 'my.cnf'}"],
                port=SHARED_PORTS["mariadb"], group="infra"),
        Service("memcached", ["/usr/bin/memcached", "-l", "127.0.0.1", "-p", str(SHARED_PORTS["memcached"]),
                              "-U", "0", "-m", "64", "-c", "4096", "-u", "root"],
                port=SHARED_PORTS["memcached"], group="infra"),
        Service("dr-memcached", ["/usr/bin/memcached", "-l", "127.0.0.1", "-p", str(SWIFT_MEMCACHED["dr"]),
                                 "-U", "0", "-m", "32", "-u", "root"],
                region="dr", port=SWIFT_MEMCACHED["dr"], group="infra"),
        Service("epmd", ["/usr/bin/epmd", "-address", "127.0.0.1", "-port", str(SHARED_PORTS["epmd"])],
                port=SHARED_PORTS["epmd"], group="infra"),
        Service("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], port=SHARED_PORTS["rabbitmq"],
                env=rabbit_env(d), group="infra"),
        Service("keystone", _uwsgi(venv, SHARED_PORTS["keystone"], "keystone.wsgi.api"),
                port=SHARED_PORTS["keystone"], env={"OS_KEYSTONE_CONFIG_DIR": str(d.etc / "keystone")},
                group="keystone"),
    ]
    for r in REGIONS:
        p = region_ports(r)
        c = d.rconf(r)
        nova = ["--config-file", str(c / "nova" / "nova.conf")]
        nova_db = nova + ["--config-file", str(c / "nova" / "nova-db.conf")]
        neutron = ["--config-file", str(c / "neutron" / "neutron.conf"),
                   "--config-file", str(c / "neutron" / "ml2_conf.ini")]
        cinder = ["--config-file", str(c / "cinder" / "cinder.conf")]
        sw = c / "swift"
        out += [
            Service(f"{r}-placement-api", _uwsgi(venv, p["placement"], "placement.wsgi.api"), r, p["placement"],
                    {"OS_PLACEMENT_CONFIG_DIR": str(c / "placement")}),
            Service(f"{r}-nova-api", _uwsgi(venv, p["nova"], "nova.wsgi.osapi_compute"), r, p["nova"],
                    {"OS_NOVA_CONFIG_DIR": str(c / "nova"), "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf;nova-db.conf"}),
            Service(f"{r}-nova-conductor", [str(b / "nova-conductor"), *nova_db], r),
            Service(f"{r}-nova-scheduler", [str(b / "nova-scheduler"), *nova_db], r),
        ]
        for h in compute_hosts(r):
            out.append(Service(f"{r}-nova-{h.split('-', 1)[1]}",
                               [str(b / "nova-compute"), *nova, "--config-file", str(c / "nova" / f"{h}.conf")], r))
        out += [
            Service(f"{r}-neutron-api", _uwsgi(venv, p["neutron"], "neutron.wsgi.api"), r, p["neutron"],
                    {"OS_NEUTRON_CONFIG_DIR": str(c / "neutron"),
                     "OS_NEUTRON_CONFIG_FILES": "neutron.conf;ml2_conf.ini"}),
            Service(f"{r}-neutron-rpc", [str(b / "neutron-rpc-server"), *neutron], r),
            Service(f"{r}-glance-api",
                    _uwsgi(venv, p["glance"], "glance.wsgi.api",
                           ["--http-chunked-input", "--http-auto-chunked", "--http-raw-body"]),
                    r, p["glance"], {"OS_GLANCE_CONFIG_DIR": str(c / "glance")}),
            Service(f"{r}-cinder-api",
                    _uwsgi(venv, p["cinder"], "cinder.wsgi.api", ["--pyargv", " ".join(cinder)]),
                    r, p["cinder"]),
            Service(f"{r}-cinder-scheduler", [str(b / "cinder-scheduler"), *cinder], r),
            Service(f"{r}-cinder-volume", [str(b / "cinder-volume"), *cinder], r),
        ]
        for kind in ("account", "container", "object"):
            out.append(Service(f"{r}-swift-{kind}", [str(b / f"swift-{kind}-server"), str(sw / f"{kind}-server.conf"),
                                                     "--verbose"], r, p[f"swift_{kind}"]))
        out.append(Service(f"{r}-swift-proxy", [str(b / "swift-proxy-server"), str(sw / "proxy-server.conf"),
                                                "--verbose"], r, p["swift_proxy"]))
    for s in out:
        if s.name in ("mariadb",):
            s.conf = [d.etc / "my.cnf"]
        elif s.name == "rabbitmq":
            s.conf = [d.etc / "rabbitmq"]
        elif s.name == "keystone":
            s.conf = [d.etc / "keystone"]
        elif s.region and s.group == "region":
            kind = s.name[len(s.region) + 1:].split("-")[0]
            s.conf = [d.rconf(s.region) / kind, d.pylib]
    return out


def rabbit_env(d: Dirs) -> dict[str, str]:
    rb = d.data / "rabbitmq"
    return {
        "HOME": str(rb),
        "RABBITMQ_CONF_ENV_FILE": str(d.etc / "rabbitmq" / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(d.etc / "rabbitmq" / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(d.etc / "rabbitmq" / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(d.etc / "rabbitmq" / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(rb / "mnesia"),
        "RABBITMQ_LOG_BASE": str(d.logs),
        "RABBITMQ_PID_FILE": str(rb / "rabbitmq.pid"),
        "RABBITMQ_NODENAME": "rabbit@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(SHARED_PORTS["rabbitmq"]),
        "RABBITMQ_DIST_PORT": str(SHARED_PORTS["rabbitmq-dist"]),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(SHARED_PORTS["epmd"]),
    }


def base_env(d: Dirs, venv: Path) -> dict[str, str]:
    """Environment of every lab process: no proxies, the drivers on PYTHONPATH, a marker naming the lab."""
    keep = ("LANG", "LC_ALL", "TZ", "TERM")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({
        "PATH": f"{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(d.data / "home"),
        "PYTHONPATH": str(d.pylib),
        "PYTHONUNBUFFERED": "1",
        "GOVCLOUD_OSLAB": str(d.root),
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    return env
