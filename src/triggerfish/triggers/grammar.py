"""The lark grammar of trigger expressions (SPEC §3.2), LALR(1) with a basic lexer.

The grammar covers the expression level: atoms joined by ``&&`` / ``AND`` and ``||`` / ``OR``
(words in any case), parentheses, ``&&`` binding tighter than ``||``. An atom is one token: a
run of characters other than whitespace, ``(``, ``)``, ``&`` and ``|``; its fields
(``name-type-context[-extra]``, the extra being everything after the third dash) are split
and checked by ``triggerfish.triggers.atomtext`` so errors can point inside the atom.

Every character but a lone ``&`` or ``|`` lexes; those end as a lexer error, whose parser state
still tells what was expected. The words ``and`` / ``or`` are operators only as whole tokens
(``and-job-self`` is an atom).
"""

from __future__ import annotations

from functools import cache

from lark import Lark

GRAMMAR = r"""
?start: disjunction

?disjunction: conjunction (OR conjunction)*
?conjunction: term (AND term)*
?term: ATOM
     | LPAR disjunction RPAR

AND.2: "&&" | /(?i:and)(?![^\s()&|])/
OR.2: "||" | /(?i:or)(?![^\s()&|])/
LPAR: "("
RPAR: ")"
ATOM: /[^\s()&|]+/

%ignore /\s+/
"""

# What each terminal is called in error messages.
TERMINAL_TEXT: dict[str, str] = {
    "AND": "'&&'",
    "OR": "'||'",
    "LPAR": "'('",
    "RPAR": "')'",
    "ATOM": "a trigger atom",
    "$END": "end of expression",
}

# The order in which expected terminals are listed.
TERMINAL_ORDER: tuple[str, ...] = ("ATOM", "LPAR", "AND", "OR", "RPAR", "$END")


@cache
def parser() -> Lark:
    """The one LALR parser (built on first use; lark parsers are reusable across threads)."""
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)
