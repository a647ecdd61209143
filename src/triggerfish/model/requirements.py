"""A job's ``requirements`` and ``hostorder`` (Qube's fields): expressions over host facts.

``requirements`` is a boolean expression checked against the facts of a host (``host.name``,
``host.os``, ``host.processors``, ``host.memory.avail``, a worker's own ``host.gpu``…; see
``engine.hostfacts``) before the job's work is placed there::

    host.gpu=a100
    host.memory.avail>=8000 && host.os=linux
    !(host.name in "render01,render02") || host.site eq lon

Operators are Qube's, in words or symbols: ``eq = ==``, ``ne != <>``, ``lt <``, ``le <=``,
``gt >``, ``ge >=``, ``in`` (a value in a comma list), ``has`` (a comma list holds a value),
``and &&``, ``or ||``, ``not !``; ``&&`` binds tighter than ``||``, ``!`` negates the
comparison (or parenthesised group) after it. When both sides read as numbers they are
compared as numbers, else as text. A word starting with ``host.`` names a fact; any other word,
or a quoted text (``'...'`` / ``"..."``), is a value. A fact alone is true when the host has
it and it is not empty, 0 or false. A fact the host does not have makes every comparison false
but ``ne``.

``hostorder`` is a comma list of facts, each with ``+`` (largest first, the default) or ``-``
(smallest first): ``+host.processor.avail,-host.memory.avail``.

Pure: parsing and compiling do no I/O; compiled expressions are cached by their text.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from triggerfish.triggers.errors import describe

MAX_TEXT = 10_000  # characters of one expression
FACT_PREFIX = "host."

_END = r"(?![^\s()&|!=<>\"'])"  # a word operator is a whole word
GRAMMAR = rf"""
?start: disjunction

?disjunction: conjunction (OR conjunction)*
?conjunction: unary (AND unary)*
?unary: NOT unary -> negation
      | comparison
?comparison: operand (OP operand)?
           | LPAR disjunction RPAR -> group
operand: WORD | STRING

OP.3: /==|!=|<>|<=|>=|=|<|>/ | /(?i:eq|ne|lt|le|gt|ge|in|has){_END}/
AND.2: "&&" | /(?i:and){_END}/
OR.2: "||" | /(?i:or){_END}/
NOT.2: "!" | /(?i:not){_END}/
LPAR: "("
RPAR: ")"
STRING: /"[^"]*"/ | /'[^']*'/
WORD: /[^\s()&|!=<>"']+/

%ignore /\s+/
"""

# What each terminal is called in error messages, in the order they are listed.
_TERMINALS: dict[str, str] = {
    "WORD": "a host fact or a value",
    "STRING": "a host fact or a value",
    "NOT": "'!'",
    "LPAR": "'('",
    "OP": "a comparison ('=', '!=', '<', '<=', '>', '>=', 'in', 'has')",
    "AND": "'&&'",
    "OR": "'||'",
    "RPAR": "')'",
    "$END": "end of expression",
}

Facts = Mapping[str, Any]
Check = Callable[[Facts], bool]
_Value = Callable[[Facts], Any]


class RequirementsError(ValueError):
    """An expression that does not parse or names no fact; ``column`` is 1-based."""

    def __init__(self, problem: str, text: str, offset: int) -> None:
        super().__init__(f"{problem} at {describe(offset, text)}")
        self.problem = problem
        self.offset = offset
        self.column = offset - text.rfind("\n", 0, offset)


@cache
def parser() -> Lark:
    """The one LALR parser (built on first use)."""
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


# ---------------------------------------------------------------- values and comparisons


_MISSING = object()
_NUMBERS: dict[str, float | None] = {}  # texts read as numbers (or not): facts repeat
_MAX_NUMBERS = 10_000


def _number(value: Any) -> float | None:
    """``value`` as a finite number, or None when it does not read as one."""
    kind = type(value)
    if kind is int or kind is float:
        return float(value) if math.isfinite(value) else None
    if kind is not str:
        return (
            None
            if isinstance(value, bool) or not isinstance(value, int | float)
            else (_number(float(value)))
        )
    got = _NUMBERS.get(value, _MISSING)
    if got is _MISSING:
        try:
            f: float | None = float(value)
        except ValueError:
            f = None
        got = f if f is not None and math.isfinite(f) else None
        if len(_NUMBERS) >= _MAX_NUMBERS:
            _NUMBERS.clear()
        _NUMBERS[value] = got
    return got  # type: ignore[return-value]


def text_of(value: Any) -> str:
    """How a fact reads as text (booleans as ``true`` / ``false``, as JSON writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def truthy(value: Any) -> bool:
    """A fact alone: true when present and not empty, 0 or false."""
    if value is None or value is False:
        return False
    n = _number(value)
    if n is not None:
        return n != 0
    return text_of(value).strip().lower() not in ("", "false", "no", "off")


def _items(value: Any) -> list[str]:
    return [p.strip() for p in text_of(value).split(",")]


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
_SYMBOLS = {"=": "eq", "==": "eq", "!=": "ne", "<>": "ne", "<": "lt", "<=": "le", ">": "gt",
            ">=": "ge"}  # fmt: skip


def compare(op: str, left: Any, right: Any) -> bool:
    """``left op right`` (``op`` a word: eq, ne, lt, le, gt, ge, in, has): numbers when both
    sides read as numbers, text otherwise; a side that is None (a fact the host does not
    have) makes it false, but ``ne`` true."""
    if left is None or right is None:
        return op == "ne"
    if op == "in":
        return text_of(left).strip() in _items(right)
    if op == "has":
        return text_of(right).strip() in _items(left)
    a = _number(left)
    if a is not None:
        b = _number(right)
        if b is not None:
            return _ORDER[op](a, b)
    return _ORDER[op](text_of(left), text_of(right))


# ---------------------------------------------------------------- compiling


def _operand(tok: Token, text: str) -> _Value:
    if tok.type == "STRING":
        literal: Any = str(tok)[1:-1]
        return lambda _facts: literal
    word = str(tok)
    if word.lower().startswith(FACT_PREFIX):
        if len(word) == len(FACT_PREFIX) or word.endswith("."):
            raise RequirementsError(
                f"{word!r} names no fact (write host.NAME, e.g. host.gpu)",
                text,
                tok.start_pos or 0,
            )
        name = FACT_PREFIX + word[len(FACT_PREFIX) :]
        return lambda facts: facts.get(name)
    if word.lower().startswith("job."):
        raise RequirementsError(
            f"{word!r}: job.* operands are not supported (quote it to compare the text)",
            text,
            tok.start_pos or 0,
        )
    return lambda _facts: word


def _comparison(node: Tree[Token], text: str) -> Check:
    ltok: Token = node.children[0].children[0]  # type: ignore[union-attr, assignment]
    rtok: Token = node.children[2].children[0]  # type: ignore[union-attr, assignment]
    left, right = _operand(ltok, text), _operand(rtok, text)
    raw = str(node.children[1])
    op = _SYMBOLS.get(raw, raw.lower())
    fact, literal = _fact_name(ltok), _literal(rtok)
    if fact is None or literal is None or op not in _ORDER:
        return lambda facts: compare(op, left(facts), right(facts))
    return _fact_against(fact, op, literal)


def _fact_name(tok: Token) -> str | None:
    word = str(tok)
    if tok.type == "WORD" and word.lower().startswith(FACT_PREFIX):
        return FACT_PREFIX + word[len(FACT_PREFIX) :]
    return None


def _literal(tok: Token) -> str | None:
    if tok.type == "STRING":
        return str(tok)[1:-1]
    return None if _fact_name(tok) is not None else str(tok)


def _fact_against(name: str, op: str, literal: str) -> Check:
    """The usual comparison, ``host.NAME OP value``, with the value read once (as
    :func:`compare` does it)."""
    fn = _ORDER[op]
    number = _number(literal)
    absent = op == "ne"

    def check(facts: Facts) -> bool:
        value = facts.get(name)
        if value is None:
            return absent
        if number is not None:
            n = _number(value)
            if n is not None:
                return fn(n, number)
        return fn(value if type(value) is str else text_of(value), literal)

    return check


def _compile(node: Tree[Token] | Token, text: str) -> Check:
    if isinstance(node, Token):  # (a lone operand is inlined by lark's '?' rules: not here)
        raise AssertionError(f"unexpected token {node!r}")
    kids = [k for k in node.children if not (isinstance(k, Token) and k.type in _PUNCT)]
    rule = node.data
    if rule == "operand":
        value = _operand(node.children[0], text)  # type: ignore[arg-type]
        return lambda facts: truthy(value(facts))
    if rule == "comparison":
        return _comparison(node, text)
    if rule == "group":
        return _compile(kids[0], text)
    if rule == "negation":
        inner = _compile(kids[0], text)
        return lambda facts: not inner(facts)
    parts = [_compile(k, text) for k in kids]
    if rule == "conjunction":
        return _fold(parts, both=True)
    if rule == "disjunction":
        return _fold(parts, both=False)
    raise AssertionError(f"unexpected rule {rule!r}")


def _fold(parts: list[Check], *, both: bool) -> Check:
    """``parts`` joined by and (``both``) or or, left to right, stopping early."""
    check = parts[0]
    for nxt in parts[1:]:
        check = _and(check, nxt) if both else _or(check, nxt)
    return check


def _and(a: Check, b: Check) -> Check:
    return lambda facts: a(facts) and b(facts)


def _or(a: Check, b: Check) -> Check:
    return lambda facts: a(facts) or b(facts)


_PUNCT = frozenset({"AND", "OR", "NOT", "LPAR", "RPAR"})


def _expected(names: set[str]) -> str:
    listed = list(dict.fromkeys(_TERMINALS[n] for n in _TERMINALS if n in names))
    if not listed:
        return "something else"
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]


def _accepted(prefix: str) -> set[str]:
    """The terminals the parser accepts after ``prefix`` (which lexes)."""
    try:
        ip = parser().parse_interactive(prefix)
        ip.exhaust_lexer()
        return set(ip.accepts())  # type: ignore[no-untyped-call]
    except UnexpectedInput:
        return set()


def _syntax_error(text: str, exc: UnexpectedInput) -> RequirementsError:
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        offset, got = exc.token.start_pos or 0, repr(str(exc.token))
        expected = set(exc.expected)
    elif isinstance(exc, UnexpectedCharacters):
        offset, got = exc.pos_in_stream, repr(exc.char)
        expected = _accepted(text[:offset])
    else:
        offset, got = len(text.rstrip()), "end of expression"
        expected = set(getattr(exc, "expected", ()) or ())
    hint = ""
    if got in ("'&'", "'|'"):
        hint = f" (write '{got[1] * 2}')"
    return RequirementsError(f"expected {_expected(expected)}, got {got}{hint}", text, offset)


def parse(text: str) -> Check:
    """Compile ``text`` into a check of a host's facts; RequirementsError naming the column."""
    if len(text) > MAX_TEXT:
        raise RequirementsError(f"longer than {MAX_TEXT:,} characters", text, MAX_TEXT)
    if not text.strip():
        raise RequirementsError("the expression is empty", text, 0)
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    if isinstance(tree, Token):  # (a single word: lark returns the operand's tree, not this)
        raise AssertionError("unexpected token tree")
    return _compile(tree, text)


@lru_cache(maxsize=4096)
def compiled(text: str) -> Check:
    """The compiled check of ``text`` (cached: jobs share few distinct expressions)."""
    return parse(text)


def matches(text: str, facts: Facts) -> bool:
    """Whether a host with ``facts`` meets the requirements ``text`` (empty: any host; one
    that no longer compiles, stored by another version: none)."""
    if not text:
        return True
    try:
        check = compiled(text)
    except RequirementsError:
        return False
    return check(facts)


# ---------------------------------------------------------------- hostorder


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One term of a hostorder: the fact, and whether larger values come first."""

    fact: str
    largest_first: bool


def parse_hostorder(text: str) -> tuple[OrderKey, ...]:
    """``[+|-]host.NAME`` terms, comma-separated; RequirementsError naming the column."""
    out: list[OrderKey] = []
    offset = 0
    for part in text.split(","):
        start = offset + len(part) - len(part.lstrip())
        offset += len(part) + 1
        term = part.strip()
        if not term:
            raise RequirementsError("expected [+|-]host.NAME, got nothing", text, start)
        sign, name = (term[0], term[1:].strip()) if term[0] in "+-" else ("+", term)
        ok = name.lower().startswith(FACT_PREFIX) and len(name) > len(FACT_PREFIX)
        if not ok or any(c.isspace() or c in "()&|!=<>\"'" for c in name) or name.endswith("."):
            raise RequirementsError(f"expected [+|-]host.NAME, got {term!r}", text, start)
        out.append(OrderKey(FACT_PREFIX + name[len(FACT_PREFIX) :], sign == "+"))
    return tuple(out)


@lru_cache(maxsize=1024)
def hostorder(text: str) -> tuple[OrderKey, ...]:
    """The parsed hostorder of ``text`` (cached)."""
    return parse_hostorder(text)


def rank(keys: tuple[OrderKey, ...], facts: Facts) -> tuple[tuple[int, float, str], ...]:
    """A sort key of a host for a hostorder: smaller sorts first (preferred). Numbers before
    text, a host without the fact last."""
    out: list[tuple[int, float, str]] = []
    for k in keys:
        value = facts.get(k.fact)
        n = _number(value)
        if value is None:
            out.append((2, 0.0, ""))
        elif n is not None:
            out.append((0, -n if k.largest_first else n, ""))
        else:
            out.append((1, 0.0, text_of(value)))
    return tuple(out)
