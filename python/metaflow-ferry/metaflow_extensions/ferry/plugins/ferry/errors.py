"""The ways a Ferry call from Metaflow can fail, as Metaflow exceptions: the flow's CLI prints
them as `headline:` and the message (no traceback), and Python callers can catch them by class.
"""

from metaflow.exception import MetaflowException


class FerryException(MetaflowException):
    """Base class of every error this package raises."""

    headline = "Ferry error"


class FerryNotFound(FerryException):
    """The `ferry` command line is not installed where this package looks (`METAFLOW_FERRY_BIN`,
    then `PATH`), or what is there is not Ferry's. The message says what to install."""

    headline = "Ferry's command line is missing"


class FerryFlowError(FerryException):
    """The flow file cannot be loaded (missing, a syntax error, an import error, no FlowSpec)."""

    headline = "Cannot load the flow"


# `error.kind` of `ferry --json` failures (cli/src/failure.rs) -> the headline shown for it.
_HEADLINES = {
    "usage": "Invalid Ferry command",
    "not_found": "Not found on Ferry",
    "refused": "Incorrect production token",
    "unavailable": "Ferry is not reachable",
    "invalid_flow": "The flow cannot be deployed",
    "failed": "Ferry command failed",
}


class FerryCommandError(FerryException):
    """A `ferry` command failed.

    Attributes
    ----------
    kind : str
        `error.kind` of its `--json` failure object: usage, not_found, refused, unavailable,
        invalid_flow or failed.
    message : str
        `error.message`: what went wrong and what to do.
    exit_code : int
        The command's exit code (1 refused or failed, 2 usage error).
    result : dict, optional
        The command's own result printed beside the error (a refused deploy's messages, a
        terminate's run), if any.
    """

    def __init__(self, kind, message, exit_code=1, result=None):
        super().__init__(message)
        self.kind = kind
        self.exit_code = exit_code
        self.result = result
        self.headline = _HEADLINES.get(kind, _HEADLINES["failed"])
        # The full text when `message` is a short ending for messages already shown.
        self.detail = message

    def shown(self):
        """The same error for a command line that has shown its messages already: a refusal
        ends with Metaflow's one line, "Try again with the correct production token."; `detail`
        keeps the full text."""
        if self.kind != "refused":
            return self
        short = FerryCommandError(
            self.kind,
            "Try again with the correct production token.",
            self.exit_code,
            self.result,
        )
        short.detail = self.message
        return short

    def __str__(self):
        return "%s: %s" % (self.headline, self.message)
