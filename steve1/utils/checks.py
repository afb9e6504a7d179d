"""Up-front input checks for the stage scripts (issue 17, items 2 and 4): numbers in range, files readable, output
locations usable, each failure a :class:`steve1.utils.cli.UsageError` whose one-line message names where the value
came from (the flag, or the config file and key), the value, and what was expected.

A script validates everything with these helpers before it creates a folder or writes a file, and runs its body
through :func:`run_main`, which turns a user's mistake into ``<prog>: error: <message>`` on stderr and exit code 2
(:func:`steve1.utils.cli.fail`).

Typical use::

    sources = flag_sources(parser, argv)                       # dest -> "--flag" (or "<file> key 'k'")
    check_ranges(args, {"batch_size": Range(int, lo=1), "lr": Range(float, lo=0, lo_open=True)}, sources)
    check_input_file(args.weights, sources["weights"], "a weights file")
    check_output_path(args.out, sources["out"])
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from steve1.utils.cli import UsageError, fail

__all__ = ["Range", "check_ranges", "check_value", "flag_sources", "given_flags", "check_input_file",
           "check_input_dir", "check_output_path", "check_output_dir", "check_device", "run_main", "USER_ERRORS"]


@dataclass(frozen=True)
class Range:
    """What a number must be: ``kind`` (``int`` or ``float``), inclusive bounds ``lo``/``hi`` (``lo_open``/
    ``hi_open`` make them exclusive), extra ``allowed`` values outside the range (e.g. ``-1`` for "all"),
    ``optional`` (``None`` allowed) and a ``note`` (the unit or meaning) for the message."""

    kind: type = int
    lo: Optional[float] = None
    hi: Optional[float] = None
    lo_open: bool = False
    hi_open: bool = False
    allowed: tuple = ()
    optional: bool = False
    note: str = ""

    def expected(self) -> str:
        """The requirement in words, e.g. ``"an integer >= 1 (env steps)"``."""
        what = "an integer" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:
            what += f" in {'(' if self.lo_open else '['}{_fmt(self.lo)}, {_fmt(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            what += f" {'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        elif self.hi is not None:
            what += f" {'<' if self.hi_open else '<='} {_fmt(self.hi)}"
        if self.allowed:
            what += " or " + " or ".join(_fmt(a) for a in self.allowed)
        if self.optional:
            what = "null or " + what
        return what + (f" ({self.note})" if self.note else "")

    def ok(self, value: Any) -> bool:
        """Whether ``value`` satisfies the range (type included; ``bool`` is never a number here)."""
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if value in self.allowed:
            return True
        if self.kind is int and (isinstance(value, float) and not value.is_integer()):
            return False
        if not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return True


def _fmt(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def check_value(value: Any, name: str, rule: Range, where: Optional[str] = None) -> None:
    """Raise :class:`UsageError` ``"<where>: <name> must be <rule>, got <value>"`` unless ``rule.ok(value)``.

    ``where`` defaults to ``--<name>``.
    """
    if not rule.ok(value):
        raise UsageError(f"{where or '--' + name}: {name} must be {rule.expected()}, got {value!r}")


def check_ranges(args: Any, rules: Mapping[str, Range], sources: Optional[Mapping[str, str]] = None) -> None:
    """Check every ``rules`` entry of ``args`` (a Namespace or a mapping), in order.

    Raises:
        UsageError: the first value out of range, naming its source (``sources[name]``, default ``--<name>``).
    """
    get = args.get if isinstance(args, Mapping) else (lambda k: getattr(args, k))
    for name, rule in rules.items():
        check_value(get(name), name, rule, (sources or {}).get(name))


def given_flags(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> set[str]:
    """The destinations of the flags that ``argv`` actually gives (abbreviations included), found by parsing it
    once more with every default replaced by a marker; the parser is left as it was."""
    marker = object()
    saved_actions = [(a, a.default) for a in parser._actions]
    saved_defaults = dict(parser._defaults)
    try:
        for a, _ in saved_actions:
            a.default = marker
        for key in parser._defaults:
            parser._defaults[key] = marker
        ns, _ = parser.parse_known_args(argv)
    finally:
        for a, default in saved_actions:
            a.default = default
        parser._defaults.clear()
        parser._defaults.update(saved_defaults)
    return {k for k, v in vars(ns).items() if v is not marker}


def flag_sources(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None,
                 config_path: Optional[str] = None, config_keys: Iterable[str] | Mapping[str, str] = ()
                 ) -> dict[str, str]:
    """Where each value of ``parser`` comes from: ``"--flag"`` (its first long option string), or
    ``"<config_path> key '<key>'"`` for the ``config_keys`` (destinations) that the command line does not give.

    Args:
        config_keys: destinations set by the config file, or a mapping destination -> the key as the file spells it
            (default: the flag name without ``--``).
    """
    names = {}
    for a in parser._actions:
        longs = [s for s in a.option_strings if s.startswith("--")]
        names[a.dest] = (longs or a.option_strings or [a.dest])[0]
    out = dict(names)
    spelled = dict(config_keys) if isinstance(config_keys, Mapping) else {k: names.get(k, "--" + k)[2:]
                                                                            for k in config_keys}
    if config_path is not None and spelled:
        on_command_line = given_flags(parser, argv)
        for key in set(spelled) - on_command_line:
            out[key] = f"{config_path} key '{spelled[key]}'"
    return out


def check_input_file(path: Any, where: str, what: str = "a file") -> Path:
    """``path`` must be a readable file; returns it as a Path.

    Raises:
        UsageError: ``"<where>: no such file <path> (expected <what>)"`` or not readable / a directory.
    """
    if path is None or str(path) == "":
        raise UsageError(f"{where}: not set (expected {what})")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{where}: {path} is a directory (expected {what})")
    if not p.is_file():
        raise UsageError(f"{where}: no such file {path} (expected {what})")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{where}: {path} is not readable (expected {what})")
    return p


def check_input_dir(path: Any, where: str, what: str = "a folder") -> Path:
    """``path`` must be an existing directory; returns it as a Path.

    Raises:
        UsageError: naming ``where``, the path and ``what``.
    """
    if path is None or str(path) == "":
        raise UsageError(f"{where}: not set (expected {what})")
    p = Path(path)
    if p.is_file():
        raise UsageError(f"{where}: {path} is a file (expected {what})")
    if not p.is_dir():
        raise UsageError(f"{where}: no such folder {path} (expected {what})")
    return p


def _blocking_file(p: Path) -> Optional[Path]:
    """The first existing ancestor of ``p`` that is not a directory (so ``p`` cannot be created), else None."""
    for parent in p.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_output_path(path: Any, where: str, suffix: Optional[str] = None) -> Path:
    """``path`` can be written as a file: not an existing directory, no file where a parent folder must be, and
    (``suffix``) the expected extension.

    Raises:
        UsageError: naming ``where``, the path and the problem.
    """
    if path is None or str(path) == "":
        raise UsageError(f"{where}: not set (expected an output file path)")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{where}: {path} is a directory (expected an output file path)")
    blocker = _blocking_file(p)
    if blocker is not None:
        raise UsageError(f"{where}: {path} cannot be created, {blocker} is a file (expected a folder there)")
    if suffix is not None and not str(p).endswith(suffix):
        raise UsageError(f"{where}: {path} must end with {suffix}")
    return p


def check_output_dir(path: Any, where: str) -> Path:
    """``path`` is a directory or can be created as one (it is not a file, nor under a file).

    Raises:
        UsageError: naming ``where``, the path and the problem.
    """
    if path is None or str(path) == "":
        raise UsageError(f"{where}: not set (expected an output folder)")
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{where}: {path} is a file (expected an output folder)")
    blocker = _blocking_file(p)
    if blocker is not None:
        raise UsageError(f"{where}: {path} cannot be created, {blocker} is a file (expected a folder there)")
    return p


def _user_errors() -> tuple[type, ...]:
    errors: list[type] = [UsageError, FileNotFoundError]
    try:
        from VPT.lib.loading import WeightsLoadError

        errors.append(WeightsLoadError)
    except ImportError:  # pragma: no cover - VPT is part of this repository
        pass
    return tuple(errors)


#: The exceptions that :func:`run_main` reports as a user's mistake (one line, exit 2).
USER_ERRORS: tuple[type, ...] = _user_errors()


def run_main(prog: str, body: Callable[[], Any], extra: tuple[type, ...] = ()) -> Any:
    """Run ``body()``; a :data:`USER_ERRORS` (or ``extra``) exception ends the program with ``<prog>: error:
    <message>`` (one line) and exit code 2 (:func:`steve1.utils.cli.fail`); anything else propagates.

    Raises:
        SystemExit: code 2 on a user's mistake.
    """
    try:
        return body()
    except USER_ERRORS + tuple(extra) as exc:
        fail(prog, exc)


def check_device(value: str, where: str):
    """``value`` as a ``torch.device`` that exists on this machine.

    Raises:
        UsageError: not a device name, or CUDA asked for where there is none (naming ``where``).
    """
    import torch

    try:
        device = torch.device(value)
    except RuntimeError as e:
        raise UsageError(f"{where}: expected cpu, cuda or cuda:N, got {value!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{where} {value}: CUDA is not available on this machine (use --device cpu)")
    return device
