"""Typed stage configurations: one dataclass per stage, read from the stage's YAML, overridden by flags, checked once,
written with the run (issue 20 item 1).

A stage declares its configuration as a dataclass whose fields are all :func:`setting`: no field has a default, so
every value comes from the stage's config file (the one source of truth) or from a flag that overrides it. The
field's metadata carries its help string (used for ``--help``), its :class:`~steve1.utils.checks.Range` or
``choices``, and whether it is a command-line flag. One loader serves every stage::

    @dataclass
    class MyStageConfig(StageConfig):
        lr: float = setting("Adam learning rate", Range(float, lo=0, lo_open=True))
        ...

    parser = argparse.ArgumentParser(); add_flags(parser, MyStageConfig)
    args = parser.parse_args(argv)
    cfg, sources = load_config(MyStageConfig, "configs/crafter/my_stage.yaml", flag_values(args, MyStageConfig))
    write_config(run_dir / "config.yaml", cfg)

:func:`load_config` raises :class:`~steve1.utils.cli.UsageError` for a missing or unreadable file, an unknown or a
missing key, a value of the wrong type or out of range; the message names where the value came from (``--flag``,
or ``<file> key '<key>'``), the value and what was expected. A class may add cross-field checks in
:meth:`StageConfig.check_consistency`.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import re
import typing
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import yaml

from steve1.utils.checks import Range
from steve1.utils.cli import UsageError
from steve1.utils.io import atomic_write_yaml

__all__ = ["setting", "StageConfig", "read_yaml", "add_flags", "flag_values", "load_config", "write_config",
           "config_dict"]

_NONE = type(None)
#: A number in exponent notation without a dot (``1e-4``), which YAML 1.1 loaders read as a string.
_EXP_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+")


def setting(help: str, rule: Optional[Range] = None, choices: Optional[Sequence[Any]] = None, flag: bool = True,
            nullable: bool = False) -> Any:
    """A required config field with its help string and checks.

    Args:
        help: one line for ``--help`` (units included).
        rule: the range of a number (:class:`~steve1.utils.checks.Range`; ``rule.optional`` allows null).
        choices: the allowed values of a string.
        flag: whether a command-line flag can override it (False: config file only, e.g. nested mappings).
        nullable: null is a meaningful value (for fields without a ``rule``).
    """
    return dataclasses.field(metadata={"help": help, "rule": rule, "choices": tuple(choices) if choices else None,
                                       "flag": flag, "nullable": nullable or bool(rule and rule.optional)})


class StageConfig:
    """Base of the stage config dataclasses: :meth:`check` (types, ranges, choices of each field, then
    :meth:`check_consistency`)."""

    def check(self, sources: Optional[Mapping[str, str]] = None) -> None:
        """Check every field, then the class's cross-field rules.

        Raises:
            UsageError: the first problem, naming the value's source (``sources``: key -> ``"--flag"`` or
                ``"<file> key 'k'"``).
        """
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            where = (sources or {}).get(f.name, f"config key '{f.name}'")
            meta = f.metadata
            if value is None:
                if not meta.get("nullable"):
                    raise UsageError(f"{where}: {f.name} must be set (null is not allowed)")
                continue
            if meta.get("rule") is not None:
                rule: Range = meta["rule"]
                if not rule.ok(value):
                    raise UsageError(f"{where}: {f.name} must be {rule.expected()}, got {value!r}")
            if meta.get("choices") and value not in meta["choices"]:
                raise UsageError(f"{where}: {f.name} must be one of {', '.join(map(str, meta['choices']))}, "
                                 f"got {value!r}")
            expected = _base_type(hints[f.name])
            if not _is_instance(value, expected):
                raise UsageError(f"{where}: {f.name} must be {_type_words(expected)}, got {value!r}")
        self.check_consistency(sources or {})

    def check_consistency(self, sources: Mapping[str, str]) -> None:
        """Cross-field rules of the stage (override); raise :class:`UsageError` naming the sources."""


def _base_type(hint: Any) -> Any:
    """``Optional[X]`` -> ``X``."""
    args = [a for a in typing.get_args(hint) if a is not _NONE]
    if typing.get_origin(hint) is Union and len(args) == 1:
        return args[0]
    return hint


def _is_instance(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence):
        (inner,) = typing.get_args(hint)[:1] or (Any,)
        return isinstance(value, (list, tuple)) and all(_is_instance(v, inner) for v in value)
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_words(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) in (list, tuple, Sequence):
        (inner,) = typing.get_args(hint)[:1] or (Any,)
        return f"a list of {_type_words(inner).split(' ', 1)[-1]}s"
    if typing.get_origin(hint) in (dict, Mapping):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def read_yaml(path: Union[str, os.PathLike], what: str = "config file") -> dict[str, Any]:
    """A YAML mapping (the one YAML loader of the stage configs).

    Raises:
        FileNotFoundError: no such file. UsageError: invalid YAML, or not a mapping (the messages name the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    return data


def add_flags(parser: Union[argparse.ArgumentParser, Any], cls: type, exclude: Sequence[str] = ()) -> None:
    """Add ``--<field>`` for every flag field of ``cls`` (default None: a flag overrides only when given); bools
    get ``--x/--no-x``, lists ``nargs='+'``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.metadata.get("flag", True):
            continue
        hint = _base_type(hints[f.name])
        kwargs: dict[str, Any] = {"default": None, "help": f.metadata.get("help", "")}
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) in (list, tuple, Sequence):
            (inner,) = typing.get_args(hint)[:1] or (str,)
            kwargs.update(nargs="+", type=inner)
        elif hint in (int, float, str):
            kwargs["type"] = hint
        if f.metadata.get("choices"):
            kwargs["choices"] = list(f.metadata["choices"])
        parser.add_argument(f"--{f.name}", **kwargs)


def flag_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The flags of ``cls`` that were given (not None) in ``args``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def load_config(cls: type, path: Union[str, os.PathLike], overrides: Mapping[str, Any],
                override_sources: Optional[Mapping[str, str]] = None, base: Optional[Mapping[str, Any]] = None,
                ) -> tuple[Any, dict[str, str]]:
    """Read ``path`` into ``cls``, lay ``overrides`` over it, check it once.

    Args:
        cls: a :class:`StageConfig` dataclass.
        path: the stage's YAML config file; it must hold every field (null where null has a meaning).
        overrides: values given on the command line (or by a preset); None values are ignored.
        override_sources: where an override came from when it is not its flag (default ``"--<key>"``).
        base: values read before ``path`` (e.g. a run's saved config when resuming); ``path`` may then be None.
    Returns:
        ``(config, sources)``: the checked instance and key -> where its value came from.
    Raises:
        FileNotFoundError: no config file. UsageError: unreadable file, unknown or missing keys, a value of the
            wrong type or out of range.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if base is not None:
        data.update(copy.deepcopy(dict(base)))
    if path is not None:
        from_file = read_yaml(path)
        unknown = sorted(set(from_file) - set(names))
        if unknown:
            raise UsageError(f"{path}: unknown key(s) {unknown}; known: {sorted(names)}")
        data.update(from_file)
        sources.update({k: f"{path} key '{k}'" for k in from_file})
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in names:
            raise UsageError(f"{(override_sources or {}).get(key, '--' + key)}: unknown setting '{key}'")
        data[key] = copy.deepcopy(value)
        sources[key] = (override_sources or {}).get(key, f"--{key}")
    missing = [n for n in names if n not in data]
    if missing:
        raise UsageError(f"{path or 'the config'}: key(s) {missing} missing (give each a value, or null where it "
                         "has a meaning)")
    hints = typing.get_type_hints(cls)
    for n in names:  # YAML writes 3 for 3.0: a float field takes an int
        if _base_type(hints[n]) is float and isinstance(data[n], int) and not isinstance(data[n], bool):
            data[n] = float(data[n])
        # PyYAML (YAML 1.1) reads 1e-4 (no dot) as a string: a float field takes the number it spells
        elif _base_type(hints[n]) is float and isinstance(data[n], str) and _EXP_FLOAT.fullmatch(data[n].strip()):
            data[n] = float(data[n])
    config = cls(**{n: data[n] for n in names})
    config.check(sources)
    return config, sources


def config_dict(config: Any) -> dict[str, Any]:
    """The config as a plain dict (field order)."""
    return {f.name: copy.deepcopy(getattr(config, f.name)) for f in dataclasses.fields(config)}


def write_config(path: Union[str, os.PathLike], config: Any, extra: Optional[Mapping[str, Any]] = None) -> None:
    """Write the resolved config (and ``extra`` keys, e.g. the task's simulator) as YAML, atomically."""
    atomic_write_yaml(path, {**config_dict(config), **dict(extra or {})})
