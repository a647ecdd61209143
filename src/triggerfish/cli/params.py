"""Click parameter types shared by the commands: ``K=V`` pairs, comma lists, control targets."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import click

from triggerfish.client.targets import Target, parse_target
from triggerfish.errors import ValidationError
from triggerfish.model.when import parse_duration

if TYPE_CHECKING:  # click >= 8.2 types ParamType by its value; older ones cannot subscript it
    _PairParam = click.ParamType[tuple[str, Any]]
    _ListParam = click.ParamType[list[str]]
    _TargetParam = click.ParamType[Target]
    _FloatParam = click.ParamType[float]
    _IntParam = click.ParamType[int]
else:
    _PairParam = _ListParam = _TargetParam = _FloatParam = _IntParam = click.ParamType


def json_or_string(text: str) -> Any:
    """``5`` -> 5, ``true`` -> True, ``[1,2]`` -> [1, 2]; anything else stays the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class KeyValue(_PairParam):
    """``KEY=VALUE``; with ``decode`` the value is JSON-decoded where it parses as JSON."""

    name = "KEY=VALUE"

    def __init__(self, *, decode: bool = False) -> None:
        self.decode = decode

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        key, sep, raw = str(value).partition("=")
        if not sep or not key.strip():
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return key.strip(), json_or_string(raw) if self.decode else raw


class HostProperty(KeyValue):
    """A worker's ``--property KEY=VALUE`` (VALUE JSON-decoded where it parses as JSON); in
    the environment several are separated by commas or spaces: ``gpu=a100,site=lon``."""

    def __init__(self) -> None:
        super().__init__(decode=True)

    def split_envvar_value(self, rv: str) -> list[str]:
        return [p for p in re.split(r"[,\s]+", rv) if p]


class ResourceTotal(_PairParam):
    """A supervisor's ``--resource NAME=COUNT`` (a global resource, e.g. licenses); in the
    environment several are separated by commas or spaces: ``maya=5,nuke=2``."""

    name = "NAME=COUNT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, Any]:
        if isinstance(value, tuple):
            return value
        from triggerfish.engine.resources import parse_option

        try:
            got = parse_option(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if len(got) != 1:
            self.fail(f"{value!r} is not NAME=COUNT (e.g. maya=5)", param, ctx)
        return next(iter(got.items()))

    def split_envvar_value(self, rv: str) -> list[str]:
        return [p for p in re.split(r"[,\s]+", rv) if p]


class CommaList(_ListParam):
    """``a,b,c`` -> ``["a", "b", "c"]``."""

    name = "A,B,..."

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[str]:
        if isinstance(value, list):
            return value
        return [v.strip() for v in str(value).split(",") if v.strip()]


class TargetType(_TargetParam):
    """A control target: ``12`` (job), ``12.0`` (instance) or ``12:NAME`` (work item)."""

    name = "TARGET"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Target:
        if isinstance(value, Target):
            return value
        try:
            return parse_target(str(value))
        except ValidationError as exc:
            self.fail(exc.message, param, ctx)


class DurationType(_FloatParam):
    """``30d``, ``12h``, ``1h30m``, ``90s`` or ``90`` -> seconds."""

    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float | int):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


class SizeType(_IntParam):
    """``16M``, ``512K``, ``1G`` (binary units: K is 1024 bytes; ``B``/``iB`` may follow) or a
    number of bytes -> bytes (at least 1)."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", str(value), re.IGNORECASE)
        if m is None or int(m.group(1)) < 1:
            self.fail(f"{value!r} is not a size such as 16M, 512K or 1048576", param, ctx)
        return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def pairs(items: tuple[tuple[str, Any], ...] | None) -> dict[str, Any]:
    """The dict of repeated ``KEY=VALUE`` options (the last one of a key wins)."""
    return dict(items or ())
