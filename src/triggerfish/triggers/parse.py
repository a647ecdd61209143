"""Text → tree: ``parse(text) -> Expr`` and ``check(text) -> Parsed`` (tree + warnings).

Decisions (see also the package docstring):

- ``AND&&`` / ``OR||`` (two operators in a row, as in the Qube docs' samples) is an error, with
  a message that says to write one of them: silently accepting doubled operators would also
  accept ``a && || b``. The samples mean AND (resp. OR).
- Unknown event names are allowed (user-defined signals) and reported in ``Parsed.warnings``;
  unknown types are errors.
- An expression uses at most one pattern variable (``$f``), in work, subjob or host atoms;
  atoms sharing it must agree on its value.
- Parentheses nest at most ``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from triggerfish.triggers.ast import Atom, Expr, all_of, any_of
from triggerfish.triggers.atomtext import read_atom
from triggerfish.triggers.errors import TriggerSyntaxError
from triggerfish.triggers.grammar import TERMINAL_ORDER, TERMINAL_TEXT, parser

MAX_DEPTH = 32
# The flat form (atoms and operators, no parentheses), read without lark: it is what nearly every
# trigger looks like (20,000 of them in a Qube-style per-frame pipeline). Anything else, and any
# error, goes through the grammar, which also words the error message.
_FLAT_TOKEN = re.compile(r"\s*(?:(&&|\|\|)|([^\s()&|]+))")
_WORD_OPERATORS = {"and": "&&", "or": "||"}
_OPERATOR_BEFORE = re.compile(r"(&&|\|\||(?<![^\s()&|])(?i:and|or))\s*\Z")


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed expression and the warnings about it (unknown event names)."""

    expr: Expr
    warnings: tuple[str, ...] = ()


def parse(text: str) -> Expr:
    """The tree of ``text``; raises TriggerSyntaxError naming the column and what was expected."""
    return check(text).expr


def check(text: str) -> Parsed:
    """Like ``parse``, also returning warnings (e.g. event names triggerfish never emits)."""
    return _check(text)


@lru_cache(maxsize=65536)  # a per-frame pipeline brings 20,000 distinct triggers
def _check(text: str) -> Parsed:
    flat = _flat_tokens(text)
    if flat is not None:
        return _Builder(text).build_flat(flat)
    return check_with_grammar(text)


def check_with_grammar(text: str) -> Parsed:
    """``check`` through the lark grammar only (the flat fast path skipped)."""
    _check_depth(text)
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    return _Builder(text).build(tree)


def _flat_tokens(text: str) -> list[tuple[int, str]] | None:
    """``(offset, token)`` of a well-formed flat expression (atom, operator, atom, …, atom) with
    operators spelled ``&&`` / ``||``; None for anything else (parentheses, a lone ``&``, two
    operators or two atoms in a row, an empty text), which the grammar then reads."""
    tokens: list[tuple[int, str]] = []
    pos, end = 0, len(text.rstrip())
    want_atom = True
    while pos < end:
        m = _FLAT_TOKEN.match(text, pos)
        if m is None:
            return None
        operator, atom = m.group(1), m.group(2)
        if atom is not None and atom.lower() in _WORD_OPERATORS:
            operator, atom = _WORD_OPERATORS[atom.lower()], None
        if (atom is not None) != want_atom:
            return None
        if atom is not None:
            tokens.append((m.start(2), atom))
        else:
            tokens.append((m.start(1), operator))
        want_atom = not want_atom
        pos = m.end()
    return None if want_atom else tokens


def _check_depth(text: str) -> None:
    if text.count("(") <= MAX_DEPTH:
        return
    depth = 0
    for offset, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise TriggerSyntaxError(
                    f"parentheses nested deeper than {MAX_DEPTH}", text=text, offset=offset
                )
        elif char == ")":
            depth = max(0, depth - 1)


class _Builder:
    """Turns lark's tree into ``Expr``, reading atoms and checking the pattern variable."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.warnings: list[str] = []
        self.variable: str | None = None

    def build(self, tree: Tree[Token] | Token) -> Parsed:
        return Parsed(self.node(tree), tuple(self.warnings))

    def build_flat(self, tokens: list[tuple[int, str]]) -> Parsed:
        """The tree of a flat expression (see ``_flat_tokens``): ``&&`` binds tighter."""
        groups: list[Expr] = []
        conjunction: list[Expr] = []
        for i in range(0, len(tokens), 2):
            start, text = tokens[i]
            conjunction.append(self.atom_at(start, text))
            if i + 1 == len(tokens) or tokens[i + 1][1] == "||":
                groups.append(all_of(*conjunction))
                conjunction = []
        return Parsed(any_of(*groups), tuple(self.warnings))

    def node(self, node: Tree[Token] | Token) -> Expr:
        if isinstance(node, Token):
            return self.atom(node)
        if node.data == "term":  # ( disjunction )
            return self.node(node.children[1])
        items = [self.node(child) for child in node.children[::2]]
        return any_of(*items) if node.data == "disjunction" else all_of(*items)

    def atom(self, token: Token) -> Expr:
        return self.atom_at(token.start_pos or 0, str(token))

    def atom_at(self, start: int, token: str) -> Expr:
        atom, warnings = read_atom(self.text, start, token)
        self.warnings.extend(warnings)
        if isinstance(atom, Atom) and atom.variable is not None:
            self._check_variable(atom.variable, start + len(token) - len(atom.variable) - 1)
        return atom

    def _check_variable(self, name: str, offset: int) -> None:
        if self.variable is None:
            self.variable = name
        elif self.variable != name:
            raise TriggerSyntaxError(
                f"expected ${self.variable} (one pattern variable per expression), got ${name}",
                text=self.text,
                offset=offset,
                expected=[f"${self.variable}"],
                got=f"${name}",
            )


def _expected_after(text: str, offset: int) -> set[str]:
    """The terminals the grammar accepts at ``offset``: they depend only on the token before
    it and the parenthesis depth (the LALR parser stops at the first token no viable prefix
    allows, and its own expected sets are blurred by default reductions). Raises the error of
    any bad atom before ``offset`` first, so the leftmost error is the one reported."""
    previous, depth = None, 0
    for token in parser().lex(text[:offset]):
        previous = token.type
        if previous == "ATOM":  # report the leftmost error: a bad atom before this one
            read_atom(text, token.start_pos or 0, str(token))
        depth += {"LPAR": 1, "RPAR": -1}.get(previous, 0)
    if previous in (None, "AND", "OR", "LPAR"):
        return {"ATOM", "LPAR"}
    return {"AND", "OR", "RPAR" if depth > 0 else "$END"}


def _expected_text(names: set[str]) -> tuple[list[str], str]:
    ordered = [TERMINAL_TEXT[n] for n in TERMINAL_ORDER if n in names]
    return ordered, ", ".join(ordered[:-1]) + " or " + ordered[-1]


def _syntax_error(text: str, exc: UnexpectedInput) -> TriggerSyntaxError:
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        offset, got = exc.token.start_pos or 0, str(exc.token)
    elif isinstance(exc, UnexpectedCharacters):
        offset, got = exc.pos_in_stream, exc.char
    else:  # the end of the text came too early
        offset, got = len(text.rstrip()), None
    expected, listed = _expected_text(_expected_after(text, offset))
    shown = "end of expression" if got is None else repr(_clip(got))
    hint = " (the trigger expression is empty)" if not text.strip() else _hint(text, offset, got)
    return TriggerSyntaxError(
        f"expected {listed}, got {shown}{hint}",
        text=text,
        offset=offset,
        expected=expected,
        got=got,
    )


def _clip(s: str, width: int = 40) -> str:
    return s if len(s) <= width else s[: width - 3] + "..."


def _hint(text: str, offset: int, got: str | None) -> str:
    if got in ("&", "|"):
        return f" (write '{got * 2}')"
    before = _OPERATOR_BEFORE.search(text, 0, offset)
    if got is not None and before is not None and _is_operator(got):
        first = before.group(1)
        written = text[before.start(1) : offset + len(got)]
        return f" (doubled operator '{written}': write '{first}' or '{got}', not both)"
    return ""


def _is_operator(s: str) -> bool:
    return s in ("&&", "||") or s.lower() in ("and", "or")
