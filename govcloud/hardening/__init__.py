"""MLPS 2.0 host hardening and audit: the control catalog, the ansible-runner wrapper, evidence writers."""
