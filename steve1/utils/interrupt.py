"""Ctrl-C (SIGINT) and SIGTERM as a request to stop at the next safe point, save a checkpoint and say how to resume
(issue 17, Build item 3): the one helper every long job uses (the BC trainer ``steve1/train.py``, the high-level PPO
``ppo_highlevel.py`` through ``sb3_vpt.logging.HighLevelLogger``, the benchmark runner
``bench/sample_efficiency.py``).

Usage::

    with catch_interrupts() as interrupt:      # SIGINT/SIGTERM now only set the flag
        for step in ...:
            train_one_step()
            if interrupt:                       # a safe point: the state is consistent
                path = save_checkpoint()
                interrupt.exit(path, ["python", "train.py", ...])   # prints 2 lines, raises Interrupted
    # the previous handlers are back here

* The first signal sets the flag and prints one line to stderr (what will happen, and that a second Ctrl-C stops at
  once); the job is expected to check the flag at its next safe point.
* A second signal (of either kind) restores the previous handlers and hands the signal to them: Python's default
  SIGINT handler raises ``KeyboardInterrupt`` as usual, a default SIGTERM ends the process.
* :meth:`InterruptFlag.exit` prints the checkpoint and the command that resumes it (stdout) and raises
  :class:`Interrupted`, a ``SystemExit`` whose code is the shell convention ``128 + signal number`` (130 for SIGINT,
  143 for SIGTERM): a script ends with that exit code and no traceback.

Signal handlers can only be installed by the main thread; elsewhere :func:`catch_interrupts` yields a flag that is
never set (the signals keep their previous behaviour).
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from typing import Callable, Iterator, NoReturn, Optional, Sequence, Union

__all__ = ["Interrupted", "InterruptFlag", "catch_interrupts", "exit_code_of"]

#: The signals that request a checkpoint-and-stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_of(signum: int) -> int:
    """The shell's exit code of a process ended by signal ``signum``: ``128 + signum`` (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(SystemExit):
    """The job stopped on a signal after saving its state; ``code`` = ``128 + signum`` (a ``SystemExit``, so an
    uncaught one ends the program with that exit code and no traceback).

    Attributes:
        signum: the signal that requested the stop (``signal.SIGINT`` or ``signal.SIGTERM``).
        checkpoint: what was saved (a path), or None.
        resume_command: the command line that resumes it, or None.
    """

    def __init__(self, signum: int, checkpoint: Optional[str] = None, resume_command: Optional[str] = None):
        super().__init__(exit_code_of(signum))
        self.signum = int(signum)
        self.checkpoint = checkpoint
        self.resume_command = resume_command

    def __str__(self) -> str:  # SystemExit's str is its code; say what happened instead
        return f"interrupted by {_signal_name(self.signum)} (exit code {self.code})"


class InterruptFlag:
    """Set by the first SIGINT/SIGTERM inside :func:`catch_interrupts`; true once a stop was requested.

    Attributes:
        signum: the first signal received (None: none yet).
        count: signals received so far.
    """

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.count = 0

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def requested(self) -> bool:
        """Whether a stop was requested (same as ``bool(flag)``)."""
        return self.signum is not None

    @property
    def name(self) -> str:
        """``"SIGINT"``, ``"SIGTERM"`` ("" before any signal)."""
        return "" if self.signum is None else _signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """``128 + signum`` (130 for SIGINT, 143 for SIGTERM).

        Raises:
            RuntimeError: no signal was received.
        """
        if self.signum is None:
            raise RuntimeError("no interrupt was received")
        return exit_code_of(self.signum)

    def set(self, signum: int) -> None:
        """Record ``signum`` as if it had been received (tests; a caller that detects a stop request itself)."""
        self.count += 1
        if self.signum is None:
            self.signum = int(signum)

    def exit(self, checkpoint: Union[str, os.PathLike, None], resume_command: Union[Sequence[str], str, None],
             detail: str = "", quiet: bool = False) -> NoReturn:
        """Print where the state was saved and how to resume (stdout, two lines), then raise :class:`Interrupted`.

        Args:
            checkpoint: the saved checkpoint (file or folder).
            resume_command: the command that resumes it (a list is shell-quoted).
            detail: appended to the first line in parentheses (e.g. ``"1234 env steps"``).
            quiet: print nothing (the non-main processes of a multi-process run).
        Raises:
            Interrupted: always (``code`` = :attr:`exit_code`).
            RuntimeError: no signal was received.
        """
        code = self.exit_code
        command = resume_command if resume_command is None or isinstance(resume_command, str) \
            else shlex.join(str(c) for c in resume_command)
        if not quiet:
            extra = f" ({detail})" if detail else ""
            print(f"interrupted by {self.name}: checkpoint saved to {checkpoint}{extra}", flush=True)
            if command:
                print(f"resume with: {command}", flush=True)
        raise Interrupted(code - 128, None if checkpoint is None else str(checkpoint), command)


@contextlib.contextmanager
def catch_interrupts(what: str = "saving a checkpoint at the next safe point",
                     on_signal: Optional[Callable[[int, int], None]] = None,
                     signals: Sequence[int] = STOP_SIGNALS) -> Iterator[InterruptFlag]:
    """Within the block, SIGINT/SIGTERM set the yielded :class:`InterruptFlag` instead of ending the program.

    Args:
        what: what the job does on the first signal, printed to stderr as
            ``"received SIGINT: <what> (Ctrl-C again stops at once, without saving)"``.
        on_signal: called as ``on_signal(signum, count)`` on every signal received, before the second one is
            handed to the previous handler (the benchmark runner forwards signals to its child processes).
        signals: the signals to catch.
    Yields:
        the flag (never set when not called from the main thread).
    """
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in signals}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)

    def handler(signum, frame):
        flag.set(signum)
        if on_signal is not None:
            on_signal(signum, flag.count)
        if flag.count == 1:
            print(f"\nreceived {_signal_name(signum)}: {what} (Ctrl-C again stops at once, without saving)",
                  file=sys.stderr, flush=True)
            return
        # a second signal: behave as without this block
        restore()
        prev = previous.get(signum)
        if callable(prev):
            prev(signum, frame)  # Python's default SIGINT handler raises KeyboardInterrupt here
        elif prev != signal.SIG_IGN:
            signal.raise_signal(signum)  # SIG_DFL (now restored): the process ends as it would have

    for s in signals:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        restore()
