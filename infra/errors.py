"""Errors a person caused and can fix: bad configuration, bad flags, a refused action.

The CLI turns a `UserError` into its message on one line and a non-zero exit; anything else is a bug
and keeps its traceback.
"""


class UserError(Exception):
    """Bad input or a refused action: the message is a sentence for the operator."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class ConfigError(UserError):
    """An environment file is invalid; the message holds one line per problem."""
