"""Pulumi entry point (Pulumi.yaml: main infra/). The catalog is validated first: with any problem
the program fails before a single resource is registered."""

import pulumi

from govcloud.errors import UserError
from infra import program

try:
    program.run()
except UserError as exc:
    # RunError: Pulumi prints the message (every catalog problem with file:line) without a traceback.
    raise pulumi.RunError(str(exc)) from None
