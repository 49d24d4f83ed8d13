"""Exceptions that the entry points report as one clear message, without a traceback."""


class UserError(Exception):
    """An error in what the user asked for or supplied; the message says what to change."""


class ConfigError(UserError):
    """An unknown mode, parameter, array index or a value of the wrong type."""


class DivergenceError(UserError):
    """A run whose loss or weights became non-finite; what it computed before is saved."""
