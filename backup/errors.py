"""The engine's operator error. On the controller it is a govcloud UserError (printed without a traceback,
exit 2); on a protected host, where only the `backup` package is shipped, a plain Exception subclass."""

try:  # pragma: no cover - depends on where we run
    from govcloud.errors import UserError as _Base
except ImportError:  # the engine alone on a host
    _Base = Exception


class BackupError(_Base):
    """Something an operator can act on; the message names the file/field/site and what to do."""


class SiteError(BackupError):
    """A restic operation failed at one site; `site` names it and `kind` classifies the cause."""

    def __init__(self, site: str, kind: str, message: str):
        super().__init__(f"site {site}: {message}")
        self.site = site
        self.kind = kind
