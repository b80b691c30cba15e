"""Mandatory rule for the toolchain test: no Box may be called "forbidden"."""

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def no_forbidden_box(args, report_violation):
    if args.resource_type == "govcloud:test:Box" and args.name == "forbidden":
        report_violation("the box name 'forbidden' is not allowed")


PolicyPack(
    name="toolchain-test",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name="no-forbidden-box", description="boxes must not be called forbidden",
                                       validate=no_forbidden_box)],
)
