"""The govcloud MLPS 2.0 CrossGuard policy pack (served by policies/__main__.py).

Policies are data (policies/policies.yaml); rule code is plain functions (policies/rules.py) evaluated by
policies/engine.py. Each policy is registered twice: `<id>` (its enforcement level, mandatory by default)
reports violations; `<id>-waived` (advisory) reports violations that an active waiver covers, with the
waiver's justification. An expired waiver does not apply: the violation stays under `<id>` and says so.
`mlps-pack-config` blocks when the pack's config, catalog or waivers file cannot be loaded.
"""

from __future__ import annotations

import json

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policies import engine

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY,
          "disabled": EnforcementLevel.DISABLED}
SEVERITIES = {"low": Severity.LOW, "medium": Severity.MEDIUM, "high": Severity.HIGH, "critical": Severity.CRITICAL}
SCHEMA = json.loads((engine.PACK_DIR / "config.schema.json").read_text(encoding="utf-8"))["properties"]
FRAMEWORK = PolicyComplianceFramework(name="MLPS 2.0 (等保2.0)", version="GB/T 22239-2019",
                                      reference="GB/T 28448-2019")

_contexts: dict[str, tuple[engine.Context | None, str | None]] = {}
# Inputs of every resource the engine analysed in this run (urn -> plain props). During preview the stack
# analysis only sees a resource's planned outputs, which are empty while its provider is unknown (tenant
# providers depend on the project id); the same analyzer process saw the inputs first, per resource.
_inputs: dict[str, dict] = {}


def _stack_settings() -> dict:
    """The stack's own `govcloud:catalogDir` and `govcloud:drRegion` (settings the infra program reads), when
    the engine passes stack config to the pack."""
    try:
        import pulumi

        cfg = pulumi.Config("govcloud")
        values = {"catalogDir": cfg.get("catalogDir"), "drRegion": cfg.get("drRegion")}
    except Exception:  # noqa: BLE001 - no stack config available
        return {}
    return {k: v for k, v in values.items() if v}


def _context(overrides) -> tuple[engine.Context | None, str | None]:
    """(context, load error) for a policy's config overrides; cached for the life of the pack process."""
    plain = {**_stack_settings(), **{k: v for k, v in dict(overrides or {}).items() if k != "enforcementLevel"}}
    key = json.dumps(plain, sort_keys=True, default=str)
    if key not in _contexts:
        try:
            _contexts[key] = (engine.build_context(engine.load_config(plain)), None)
        except Exception as exc:  # noqa: BLE001 - any load error blocks through mlps-pack-config
            try:
                ctx = engine.build_context(engine.load_config(plain), with_waivers=False)
            except Exception:  # noqa: BLE001
                ctx = None
            _contexts[key] = (ctx, f"{type(exc).__name__}: {exc}")
    return _contexts[key]


def _plain(value):
    """A PolicyResource property tree as plain Python; values unknown during preview become engine.UNKNOWN."""
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if hasattr(value, "keys"):
        out = {}
        for k in list(value.keys()):
            try:
                out[k] = _plain(value[k])
            except UnknownValueError:
                out[k] = engine.UNKNOWN
        return out
    if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        out_l = []
        for i in range(len(value)):
            try:
                out_l.append(_plain(value[i]))
            except UnknownValueError:
                out_l.append(engine.UNKNOWN)
        return out_l
    return value


def _merged_props(urn: str, outputs: dict) -> dict:
    """The resource's inputs seen earlier in this run, overlaid with whatever outputs are known."""
    merged = dict(_inputs.get(urn) or {})
    merged.update({k: v for k, v in (outputs or {}).items() if not isinstance(v, engine.Unknown)})
    return merged


def _report(findings, report, waived: bool) -> None:
    for f in findings:
        if (f.status == "waived") == waived:
            report(f.text(), f.urn or None)


def _resource_validate(pid: str, waived: bool):
    def validate(args, report_violation):
        ctx, _err = _context(args.get_config())
        if ctx is None:
            return
        res = engine.Res(args.resource_type, args.name, _plain(args.props), args.urn)
        if args.urn:
            _inputs[args.urn] = res.props
        found = engine.apply_waivers(engine.check_resource(res, ctx, only=pid), ctx.waivers, ctx.today)
        _report(found, report_violation, waived)
    return validate


def _stack_validate(pid: str, waived: bool):
    def validate(args, report_violation):
        ctx, _err = _context(args.get_config())
        if ctx is None:
            return
        resources = []
        for r in args.resources:
            deps = {k: [d.urn for d in v] for k, v in (r.property_dependencies or {}).items()}
            resources.append(engine.Res(r.resource_type, r.name, _merged_props(r.urn, _plain(r.props)), r.urn,
                                        deps, [d.urn for d in r.dependencies or []]))
        found = engine.apply_waivers(engine.check_stack(resources, ctx, only=pid), ctx.waivers, ctx.today)
        _report(found, report_violation, waived)
    return validate


def _config_validate(args, report_violation):
    _ctx, err = _context(args.get_config())
    if err:
        report_violation(f"the MLPS policy pack cannot load its configuration, catalog or waivers: {err}", None)


def build_policies() -> list:
    policies: list = [StackValidationPolicy(
        name="mlps-pack-config",
        description="The MLPS policy pack's configuration, catalog and waivers file load without errors.",
        validate=_config_validate, enforcement_level=EnforcementLevel.MANDATORY, severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(properties=SCHEMA), framework=FRAMEWORK,
        remediation_steps="Fix the file named in the message (waivers need justification, approver, expires).")]
    for pid, spec in engine.registry().items():
        kind = ResourceValidationPolicy if spec["scope"] == "resource" else StackValidationPolicy
        make = _resource_validate if spec["scope"] == "resource" else _stack_validate
        common = {"config_schema": PolicyConfigSchema(properties=SCHEMA), "framework": FRAMEWORK,
                  "tags": ["mlps", *spec["mlps"][:1]], "remediation_steps": spec["remediation"],
                  "severity": SEVERITIES[spec["severity"]]}
        desc = f"{spec['title']} [MLPS: {'; '.join(spec['mlps'])}]"
        policies.append(kind(name=pid, description=desc, validate=make(pid, False),
                             enforcement_level=LEVELS[spec["enforcement"]], **common))
        policies.append(kind(name=f"{pid}-waived", description=f"Waived (by an active waiver): {desc}",
                             validate=make(pid, True), enforcement_level=EnforcementLevel.ADVISORY, **common))
    return policies


def serve() -> None:
    """Start the analyzer (blocks; the Pulumi engine talks to it over gRPC)."""
    PolicyPack(name="govcloud-mlps", policies=build_policies(), enforcement_level=EnforcementLevel.MANDATORY,
               description="MLPS 2.0 (等保2.0) guardrails for govcloud tenants")
