"""Which exceptions are the user's to fix, and the one line that tells them how."""

from __future__ import annotations

from hydra.errors import InstantiationException
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from intentbot.artifact import BundleError
from intentbot.corpus import DataError

USER_ERRORS = (DataError, BundleError, ValueError, FileNotFoundError, OmegaConfBaseException)


def user_error(error: BaseException) -> str | None:
    """One line for a bad config or bad data; None for a bug (which keeps its traceback)."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, MissingMandatoryValue):
        return f"{error.full_key} is required: add {error.full_key}=... to the command"
    if isinstance(error, USER_ERRORS):
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None
