"""govcloud: tenants, MLPS guardrails, host hardening and DR backup for a city government cloud."""

__version__ = "0.1.0"
