"""One test per scored MLPS level-3 control id (enforced and config-verified tiers)."""

from __future__ import annotations

import pytest

from conftest import kv, words

LEGACY = ["telnetd", "inetutils-telnetd", "telnetd-ssl", "rsh-server", "rsh-redone-server", "xinetd", "nis",
          "yp-tools", "tftpd-hpa", "atftpd", "talkd", "rsh-client", "rsh-redone-client", "telnet"]


def _read(host, path: str) -> str:
    f = host.file(path)
    return f.content_string if f.exists else ""


def _pwquality(host) -> dict:
    text = _read(host, "/etc/security/pwquality.conf")
    d = host.file("/etc/security/pwquality.conf.d")
    if d.is_directory:
        for name in sorted(d.listdir()):
            if name.endswith(".conf"):
                text += "\n" + _read(host, f"/etc/security/pwquality.conf.d/{name}")
    return kv(text)


def _passwd(host) -> list[list[str]]:
    return [line.split(":") for line in _read(host, "/etc/passwd").splitlines() if line]


def _shadow(host) -> dict[str, str]:
    return {f[0]: f[1] for f in (line.split(":") for line in _read(host, "/etc/shadow").splitlines() if line)}


def _installed(host, names) -> list[str]:
    return [n for n in names if host.package(n).is_installed]


def _sub(value: str, allowed) -> bool:
    got = [v for v in value.split(",") if v]
    return bool(got) and set(got) <= set(allowed)


def _audit_rules(host) -> list[str]:
    return [line.strip() for line in _read(host, "/etc/audit/rules.d/50-mlps.rules").splitlines()]


def test_L3_CES1_01(host, p, sshd):
    q = _pwquality(host)
    assert int(q.get("minlen", 0)) >= p["pw_minlen"]
    assert int(q.get("minclass", 0)) >= p["pw_minclass"]
    assert any(line.split()[:1] == ["password"] and "pam_pwquality.so" in line
               for line in _read(host, "/etc/pam.d/common-password").splitlines())
    assert int(words(_read(host, "/etc/login.defs"))["PASS_MAX_DAYS"]) <= p["pw_max_days"]
    assert [u for u, pw in _shadow(host).items() if pw == ""] == []
    users = _passwd(host)
    assert [u[0] for u in users if u[2] == "0"] == ["root"]
    uids = [u[2] for u in users]
    assert len(uids) == len(set(uids))
    assert sshd["permitemptypasswords"] == "no"


def test_L3_CES1_02(host, p, sshd):
    f = kv(_read(host, "/etc/security/faillock.conf"))
    assert 1 <= int(f.get("deny", 0)) <= p["lockout_deny"]
    assert int(f.get("unlock_time", 0)) >= p["lockout_unlock_time"]
    auth = _read(host, "/etc/pam.d/common-auth")
    active = [line for line in auth.splitlines() if line.strip().startswith("auth")]
    assert any("pam_faillock.so" in line and "preauth" in line for line in active)
    assert any("pam_faillock.so" in line and "authfail" in line for line in active)
    profile = host.run("cat /etc/profile.d/*.sh").stdout
    tmout = [line.split("=", 1)[1] for line in profile.splitlines() if line.strip().startswith("TMOUT=")]
    assert tmout and 1 <= int(tmout[0]) <= p["idle_timeout"]
    assert 1 <= int(sshd["clientaliveinterval"]) <= p["idle_timeout"]
    assert int(sshd["maxauthtries"]) <= p["ssh_max_auth_tries"]
    assert 1 <= int(sshd["logingracetime"]) <= 60


def test_L3_CES1_03(host, p, sshd):
    assert _installed(host, ["telnetd", "inetutils-telnetd", "telnetd-ssl", "rsh-server", "rsh-redone-server"]) == []
    assert _sub(sshd["ciphers"], p["ssh_ciphers"])
    assert sshd["x11forwarding"] == "no"


def test_L3_CES1_05(host, p):
    assert words(_read(host, "/etc/login.defs"))["UMASK"] == p["umask"]
    shadow = host.file("/etc/shadow")
    assert shadow.user == "root" and shadow.mode in (0o640, 0o600, 0o400, 0)
    passwd = host.file("/etc/passwd")
    assert passwd.user == "root" and passwd.mode == 0o644


def test_L3_CES1_06(host, p, sshd):
    assert sshd["permitrootlogin"] in ("no", "prohibit-password", "without-password")
    system = [u for u in _passwd(host) if 0 < int(u[2]) < 1000 and u[0] != "sync"]
    assert [u[0] for u in system if not u[6].endswith(("nologin", "false"))] == []
    shadow = _shadow(host)
    assert [u[0] for u in system if u[0] in shadow and not shadow[u[0]].startswith(("!", "*"))] == []


def test_L3_CES1_07(host, p):
    inactive = [line.split("=", 1)[1] for line in host.check_output("useradd -D").splitlines()
                if line.startswith("INACTIVE=")]
    assert 0 <= int(inactive[0]) <= p["account_inactive_days"]
    names = [u[0] for u in _passwd(host)]
    assert len(names) == len(set(names))


def test_L3_CES1_08(host):
    for group in ("mlps-sysadm", "mlps-secadm", "mlps-audadm"):
        assert host.group(group).exists
    sudoers = host.file("/etc/sudoers.d/50-mlps-roles")
    assert sudoers.exists and sudoers.user == "root" and sudoers.mode == 0o440
    assert host.run("visudo -cqf /etc/sudoers.d/50-mlps-roles").rc == 0


@pytest.mark.parametrize("path", ["/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d", "/etc/sudoers", "/etc/sudoers.d",
                                  "/etc/crontab", "/etc/cron.d", "/etc/security/faillock.conf", "/etc/nftables.conf"])
def test_L3_CES1_09(host, path):
    f = host.file(path)
    if f.exists:
        assert f.user == "root" and f.mode & 0o007 == 0


def test_L3_CES1_12(host):
    assert host.service("rsyslog").is_running
    conf = _read(host, "/etc/rsyslog.conf") + host.run("cat /etc/rsyslog.d/*.conf").stdout
    assert any(line.split()[:2] == ["auth,authpriv.*", "/var/log/auth.log"] for line in conf.splitlines())
    assert any(r.startswith("-a always,exit -F arch=b64 -S execve") for r in _audit_rules(host))


def test_L3_CES1_13(host):
    assert kv(_read(host, "/etc/audit/auditd.conf")).get("log_format") == "ENRICHED"
    rules = _audit_rules(host)
    for path in ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/sudoers"):
        assert f"-w {path} -p wa -k mlps_config" in rules


def test_L3_CES1_14(host, p):
    conf = words(_read(host, "/etc/logrotate.d/rsyslog"))
    period = 1 if "daily" in conf else 31 if "monthly" in conf else 7
    assert int(conf.get("rotate", 0)) * period >= p["log_retention_days"]
    log = host.file("/var/log/auth.log")
    assert not log.exists or log.mode & 0o007 == 0
    assert kv(_read(host, "/etc/audit/auditd.conf")).get("max_log_file_action", "").lower() == "keep_logs"


def test_L3_CES1_15(host):
    assert host.service("rsyslog").is_enabled
    lines = [line.strip() for line in _read(host, "/etc/audit/rules.d/99-mlps-finalize.rules").splitlines() if line.strip()]
    assert lines and lines[-1] == "-e 2"


def test_L3_CES1_16(host):
    assert _installed(host, LEGACY) == []


def test_L3_CES1_17(host):
    chain = host.run("nft list chain inet mlps_filter input").stdout
    assert "policy drop;" in chain
    assert host.service("nftables").is_enabled
    want = {"net.ipv4.conf.all.accept_redirects": 0, "net.ipv4.conf.default.accept_redirects": 0,
            "net.ipv4.conf.all.send_redirects": 0, "net.ipv4.conf.all.accept_source_route": 0,
            "net.ipv4.tcp_syncookies": 1, "net.ipv4.icmp_echo_ignore_broadcasts": 1,
            "net.ipv4.conf.all.rp_filter": 1, "net.ipv4.conf.all.log_martians": 1}
    assert {k: host.sysctl(k) for k in want} == want


def test_L3_CES1_18(host):
    chain = host.run("nft list chain inet mlps_filter input").stdout
    rules = [line for line in chain.splitlines() if "mlps-mgmt-ssh\"" in line]
    assert len(rules) == 1 and "ip saddr" in rules[0] and "dport 22" in rules[0]


def test_L3_CES1_21(host):
    rules = _audit_rules(host)
    for path in ("/etc/sudoers.d/", "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/", "/etc/crontab", "/etc/cron.d/"):
        assert f"-w {path} -p wa -k mlps_config" in rules
    sysctl = kv(_read(host, "/etc/sysctl.d/60-mlps-kernel.conf"))
    assert sysctl.get("kernel.randomize_va_space") == "2" and sysctl.get("kernel.kptr_restrict") == "2"
    assert sysctl.get("kernel.dmesg_restrict") == "1"
    assert sysctl.get("fs.protected_hardlinks") == "1" and sysctl.get("fs.protected_symlinks") == "1"


def test_L3_CES1_22(host):
    assert host.file("/var/lib/aide/mlps.db").size > 0
    assert "aide --config /etc/aide/mlps-aide.conf --check" in _read(host, "/etc/cron.d/mlps-aide")


def test_L3_CES1_24(host, p, sshd):
    assert _sub(sshd["macs"], p["ssh_macs"])


def test_L3_CES1_25(host):
    assert any(line.split()[:1] == ["/etc"] for line in _read(host, "/etc/aide/mlps-aide.conf").splitlines())
    assert host.file("/var/lib/aide/mlps.db").size > 0


def test_L3_CES1_26(host, p, sshd):
    assert _sub(sshd["ciphers"], p["ssh_ciphers"])
    assert _sub(sshd["kexalgorithms"], p["ssh_kex"])


def test_L3_CES1_27(host):
    assert words(_read(host, "/etc/login.defs"))["ENCRYPT_METHOD"] in ("SHA512", "YESCRYPT")
    weak = [u for u, h in _shadow(host).items() if h.startswith("$1$") or (len(h) == 13 and h.isascii()
                                                                          and h not in ("*", "!"))]
    assert weak == []


def test_L3_CES1_31(host):
    limits = _read(host, "/etc/security/limits.conf") + host.run("cat /etc/security/limits.d/*.conf").stdout
    assert any(line.split() == ["*", "hard", "core", "0"] for line in limits.splitlines())
    assert kv(_read(host, "/etc/sysctl.d/60-mlps-kernel.conf")).get("fs.suid_dumpable") == "0"
