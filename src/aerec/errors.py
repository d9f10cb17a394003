"""The exceptions aerec raises for bad input.

Every error a user can cause (a malformed file, a bad argument, filters that
empty the data) is an :class:`AerecError` whose message is one line naming the
file, line or argument. The CLI prints that line and exits non-zero; it never
shows a traceback for these.
"""


class AerecError(Exception):
    """A user-facing error: its message is a complete, one-line explanation."""


class DataError(AerecError):
    """Input data that cannot be read or does not fit the protocol."""


class ConfigError(AerecError):
    """A bad argument, option or configuration value."""


class BudgetExceeded(AerecError):
    """A fit that spent its time budget before finishing; the model is unusable.

    ``status`` is what a search records for the trial (the paper's "did not
    finish within a reasonable amount of time").
    """

    status = "did not finish"


class NonFiniteScores(DataError, ValueError):
    """A model's scores or predictions hold NaN (diverged weights): never ranked silently. A ValueError too, for callers of the metrics."""
