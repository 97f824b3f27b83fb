"""`python -m intentbot.chat`: talk to the intent service, or to a stored model in-process.

The loop, its commands, retrying an unreachable server and the transcript live here; where the
answers come from is `backends`, how they look is `view`.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

import httpx
from rich.console import Console

from intentbot.chat import view
from intentbot.chat.backends import Backend, HttpBackend, LocalBackend, TurnError, Unavailable
from intentbot.records import DEFAULT_TOP_K, Record
from intentbot.serving.schemas import Classification

DEFAULT_URL = "http://127.0.0.1:3000"
DEFAULT_TAG = "intentbot:latest"


class StartError(Exception):
    """The chat cannot start (no such model, transcript not writable); one line says why."""


@dataclass(frozen=True)
class Backoff:
    """Pauses between tries at an unreachable server: doubling, capped, within a time budget."""

    first: float = 0.5
    longest: float = 8.0
    budget: float = 60.0

    def delays(self) -> Iterator[float]:
        """A fresh schedule per message; it runs out once `budget` seconds would be exceeded."""
        delay, waited = self.first, 0.0
        while waited + delay <= self.budget:
            yield delay
            waited += delay
            delay = min(2 * delay, self.longest)


class Transcript:
    """One record per answered message (`intentbot.records`: what the service collects and
    review reads), flushed at once so Ctrl-C loses nothing."""

    def __init__(self, file: TextIO, model: str | None = None) -> None:
        self.file = file
        self.model = model

    def write(self, answer: Classification) -> None:
        """The answer with its ranking and reply, stamped with the local time."""
        self.file.write(Record.of(answer, model=self.model, reply=answer.reply).to_line())
        self.file.flush()


class ChatLoop:
    """The read-answer loop; input, output, clock and backend are all passed in."""

    def __init__(
        self,
        backend: Backend,
        console: Console,
        *,
        show_ranking: bool = False,
        transcript: Transcript | None = None,
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.console = console
        self.show_ranking = show_ranking
        self.transcript = transcript
        self.backoff = backoff
        self.sleep = sleep
        self.running = True
        self.commands: dict[str, tuple[Callable[[], None], str]] = {
            "/help": (self.show_help, "list these commands"),
            "/top": (self.toggle_ranking, "show or hide the top intents under each answer"),
            "/quit": (self.quit, "end the session"),
        }

    def run(self, read_line: Callable[[], str]) -> None:
        """Until /quit, Ctrl-D or Ctrl-C; a Ctrl-C while waiting for an answer also ends it."""
        self.console.print(view.banner(self.backend.description))
        problem = self.backend.check()
        if problem:
            self.console.print(view.warning(f"{problem}; messages will wait for it"))
        try:
            while self.running:
                self.handle(read_line().strip())
        except (EOFError, KeyboardInterrupt):
            self.console.print()
        self.console.print(view.notice("Bye."))

    def handle(self, line: str) -> None:
        """One input line: blank is ignored, `/...` is a command, anything else is a message."""
        if not line:
            return
        if not line.startswith("/"):
            self.send(line)
            return
        command = self.commands.get(line.split()[0].lower())
        if command is None:
            self.console.print(view.warning(f"unknown command {line!r}; /help lists them"))
        else:
            command[0]()

    def send(self, text: str) -> None:
        """Send one message and show its answer (and log it); a failed turn is shown, not
        raised."""
        try:
            answer = self.ask(text)
        except TurnError as error:
            self.console.print(view.error(str(error)))
            return
        self.console.print(view.answer_panel(answer, self.show_ranking))
        if self.transcript:
            self.transcript.write(answer)

    def ask(self, text: str) -> Classification:
        """One warning line when the server is away, then quiet retries with a spinner."""
        delays = self.backoff.delays()
        warned = False
        while True:
            try:
                with self.console.status("thinking…"):
                    return self.backend.classify(text, DEFAULT_TOP_K)
            except Unavailable as error:
                delay = next(delays, None)
                if delay is None:
                    raise TurnError(
                        f"{error}; gave up after {self.backoff.budget:.0f}s. Start the server "
                        "(make serve) and send the message again"
                    ) from None
                if not warned:
                    self.console.print(view.warning(f"{error}; retrying…"))
                    warned = True
                with self.console.status(f"waiting for the server (next try in {delay:g}s)…"):
                    self.sleep(delay)

    def show_help(self) -> None:
        """`/help`: lists the commands from the same table `handle` dispatches on."""
        commands = [(name, description) for name, (_, description) in self.commands.items()]
        self.console.print(view.help_table(commands))

    def toggle_ranking(self) -> None:
        """`/top`: show or hide the top intents under each later answer."""
        self.show_ranking = not self.show_ranking
        self.console.print(view.notice(f"top intents {'on' if self.show_ranking else 'off'}"))

    def quit(self) -> None:
        """`/quit`: the loop in `run` ends after this line."""
        self.running = False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The chat's command line; `argv` defaults to sys.argv (tests pass their own)."""
    parser = argparse.ArgumentParser(
        prog="python -m intentbot.chat", description="Chat with intentbot in the terminal."
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the service (default {DEFAULT_URL})")
    parser.add_argument(
        "--local",
        nargs="?",
        const=DEFAULT_TAG,
        metavar="TAG",
        help=f"run a stored model in this process instead (default {DEFAULT_TAG})",
    )
    parser.add_argument(
        "--replies",
        metavar="FILE",
        help="with --local: answer with the replies in this YAML file instead of the model's",
    )
    parser.add_argument("--save", metavar="FILE", help="append the session to FILE (JSON lines)")
    parser.add_argument("--top", action="store_true", help="start with the top intents shown")
    parser.add_argument(
        "--wait",
        type=float,
        default=Backoff.budget,
        metavar="SECONDS",
        help=f"how long to retry an unreachable server (default {Backoff.budget:g})",
    )
    return parser.parse_args(argv)


def open_backend(
    args: argparse.Namespace, console: Console, stack: contextlib.ExitStack
) -> Backend:
    """The server at `--url`, or with `--local` a stored model loaded here; `stack` closes
    whatever it opened. A model that cannot be loaded is a `StartError`."""
    if args.local is None:
        if args.replies:
            raise StartError("--replies is for --local; a server reads INTENTBOT_REPLIES")
        return HttpBackend(stack.enter_context(httpx.Client(base_url=args.url, timeout=10.0)))
    from intentbot.bundle import BundleError
    from intentbot.replies import replies_with_override
    from intentbot.store import load_bundle

    try:
        with console.status(f"loading {args.local}…"):
            bundle = load_bundle(args.local)
        replies = replies_with_override(
            bundle.replies, bundle.labels, args.replies, bundle.entity_types
        )
    except (BundleError, ValueError) as error:
        raise StartError(str(error)) from None
    for warning in replies.warnings:
        console.print(view.warning(warning))
    return LocalBackend(bundle, replies.templates)


def open_transcript(
    path: str | None, stack: contextlib.ExitStack, model: str | None = None
) -> Transcript | None:
    """`--save FILE` opened for appending, so sessions accumulate; None without `--save`."""
    if path is None:
        return None
    try:
        return Transcript(stack.enter_context(open(path, "a", encoding="utf-8")), model)
    except OSError as error:
        raise StartError(f"can't write the transcript: {error}") from None


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """Exit 1 with one line when the chat cannot start, 130 on Ctrl-C while the model loads."""
    args = parse_args(argv)
    console = console or view.make_console()
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history at the prompt)
    try:
        with contextlib.ExitStack() as stack:
            backend = open_backend(args, console, stack)
            loop = ChatLoop(
                backend,
                console,
                show_ranking=args.top,
                transcript=open_transcript(args.save, stack, backend.model),
                backoff=Backoff(budget=args.wait),
            )
            loop.run(lambda: console.input(view.PROMPT))
    except KeyboardInterrupt:
        return 130
    except StartError as error:
        console.print(view.error(str(error)))
        return 1
    return 0
