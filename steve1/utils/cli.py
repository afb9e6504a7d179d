"""Command-line conventions shared by every stage script: a user's mistake ends in one line and exit code 2.

A bad flag, config value or input file is not a bug: the script prints ``<prog>: error: <what, where it came
from, the value, what was expected>`` on stderr, with no traceback, and exits with 2 (argparse's own code for bad
arguments) before it creates a run folder or writes anything. Code raises :class:`UsageError` (or lets a loader's
``FileNotFoundError``/``ValueError`` through); the script's ``main`` turns it into that line with :func:`fail`.
"""
from __future__ import annotations

import sys
from typing import Any, Mapping, NoReturn, Optional

__all__ = ["UsageError", "fail", "source_of", "EXIT_USAGE"]

#: Exit code of a usage error (argparse's).
EXIT_USAGE = 2


class UsageError(ValueError):
    """A user's mistake (flag, config value or input file); the message names the source, the value and what was
    expected, in one line."""


def fail(prog: str, message: Any) -> NoReturn:
    """Print ``<prog>: error: <message>`` (first line only, no traceback) on stderr and exit with code 2.

    Raises:
        SystemExit: always, with code :data:`EXIT_USAGE`.
    """
    text = " ".join(str(message).split("\n")[0].split()) if str(message) else type(message).__name__
    print(f"{prog}: error: {text}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)


def source_of(sources: Optional[Mapping[str, str]], key: str) -> str:
    """Where config value ``key`` came from: ``"--key"`` for a flag, ``"<file> key 'key'"`` for a config file,
    as recorded in ``sources`` (key -> description); ``"config key 'key'"`` when unknown."""
    if sources and key in sources:
        return sources[key]
    return f"config key '{key}'"
