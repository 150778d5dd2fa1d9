"""Errors users see as one line (the CLI maps them to exit code 2)."""


class SignalOpsError(Exception):
    """A user-facing error: bad input, bad config, illegal state change."""


class ConfigError(SignalOpsError):
    pass


class NotFoundError(SignalOpsError):
    pass


class InvalidTransitionError(SignalOpsError):
    pass
