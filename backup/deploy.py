"""`govcloud backup deploy`: run playbooks/backup.yml (the backup_agent role) with ansible-playbook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from backup.errors import BackupError

REPO = Path(__file__).resolve().parent.parent


def deploy(config: str, inventory: str, limit: str, extra: list[str] | None = None) -> int:
    playbook = REPO / "playbooks" / "backup.yml"
    if not playbook.exists():
        raise BackupError(f"{playbook} is missing (deploy runs from a govcloud checkout)")
    exe = Path(sys.prefix) / "bin" / "ansible-playbook"
    exe = str(exe) if exe.exists() else shutil.which("ansible-playbook")
    if not exe:
        raise BackupError("ansible-playbook is not installed: run ./bootstrap.sh setup")
    argv = [exe, "-i", inventory, "-l", limit, str(playbook), "-e", f"backup_agent_config_file={os.path.abspath(config)}"]
    for e in extra or []:
        argv += ["-e", e]
    env = dict(os.environ)
    cfg = REPO / "ansible.cfg"
    if cfg.exists():
        env.setdefault("ANSIBLE_CONFIG", str(cfg))
    return subprocess.call(argv, env=env)
