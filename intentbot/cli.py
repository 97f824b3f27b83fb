"""Which exceptions are the user's to fix, and the one line that tells them how."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import InstantiationException
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException
from rich.console import Console
from rich.markup import escape

from intentbot.bundle import BundleError
from intentbot.examples import DataError

# ConnectionError: a cluster that does not answer (a DDP rendezvous, a Ray address)
USER_ERRORS = (
    DataError,
    BundleError,
    ValueError,
    FileNotFoundError,
    ConnectionError,
    OmegaConfBaseException,
)


def user_error(error: BaseException) -> str | None:
    """One line for a bad config (a line per problem for bad data); None for a bug, which keeps
    its traceback."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, MissingMandatoryValue):
        return f"{error.full_key} is required: add {error.full_key}=... to the command"
    if isinstance(error, DataError):  # may list every problem found, one a line
        return str(error) or type(error).__name__
    if isinstance(error, USER_ERRORS):
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


@contextmanager
def exit_on_user_error(console: Console) -> Iterator[None]:
    """A command's body: a user's mistake ends it with one line and exit code 2."""
    try:
        yield
    except Exception as error:
        message = user_error(error)
        if message is None:
            raise
        console.print(f"[error]error:[/] {escape(message)}", soft_wrap=True)
        raise SystemExit(2) from None
