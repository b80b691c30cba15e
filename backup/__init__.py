"""govcloud's DR engine around restic: config + schema, sites (local, sftp, rest, swift), dual-commit runs,
watch, async replication, retention, rotating checks, restore drills, reports and metrics.

Stdlib only at run time (PyYAML optional): the backup_agent role ships this package to the protected host
and runs it there with `python3 -m backup`.
"""
