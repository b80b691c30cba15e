"""Errors an operator can act on. `govcloud` prints them without a traceback and exits 2."""


class UserError(Exception):
    """Bad input or a missing prerequisite: the message names the file/field/host and what to do."""
