"""MLPS 2.0 (等保2.0) cloud guardrails: CrossGuard pack (pack.py, __main__.py), rule functions (rules.py),
evaluation (engine.py) and the catalog-level subset (catalog_checks.py). See docs/policies.md."""
