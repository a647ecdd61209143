"""Errors of the trigger language, all of them ``ValidationError`` (HTTP 422)."""

from __future__ import annotations

from collections.abc import Sequence

from triggerfish.errors import ValidationError


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of the 0-based ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def describe(offset: int, text: str) -> str:
    """``column C`` (or ``line L, column C`` when the text has several lines)."""
    line, column = position(text, offset)
    return f"line {line}, column {column}" if "\n" in text else f"column {column}"


class TriggerSyntaxError(ValidationError):
    """A trigger expression that does not parse; the message names the column and what was
    expected, e.g. ``column 18: expected '&&', '||', ')' or end of expression, got 'x'``.

    ``line`` and ``column`` are 1-based (``column`` on its line); ``offset`` is the 0-based
    position in the whole text.
    """

    code = "trigger_syntax"

    def __init__(
        self,
        problem: str,
        *,
        text: str,
        offset: int,
        expected: Sequence[str] = (),
        got: str | None = None,
        field: str | None = "triggers",
    ) -> None:
        line, column = position(text, offset)
        where = describe(offset, text)
        super().__init__(
            f"{where}: {problem}",
            field=field,
            line=line,
            column=column,
            expected=list(expected),
            got=got,
            text=text,
        )
        self.problem = problem
        self.text = text
        self.offset = offset
        self.line = line
        self.column = column
        self.expected = tuple(expected)
        self.got = got


class TriggerCompileError(ValidationError):
    """An expression that parses but cannot be resolved for its job (``self`` in a global
    callback, ``parent`` of a job without ``pid``, a pattern variable in the wrong place)."""

    code = "trigger_compile"
