"""The hot statements of a group commit, as plain driver SQL.

A busy farm writes a few rows per frame: item and job updates, events, counters. Through
SQLAlchemy Core's statement machinery these cost several times what the database does, so
they go to the driver directly (the DBAPI cursor of the transaction's connection, with
positional parameters), with JSON columns encoded as SQLAlchemy's JSON type would encode them.

On SQLite a statement runs once per row (``executemany``: the rows never leave the process).
On PostgreSQL each execution is a message the server parses, binds and runs, so the rows of
one commit go as **one** statement per shape: the rows are one JSON array parameter, which
``json_to_recordset`` turns into a relation (``UPDATE … FROM``, ``INSERT … SELECT``,
``DELETE … USING``). The statement text does not depend on the number of rows, so psycopg
prepares it on the server after a few uses.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from triggerfish.store import tables
from triggerfish.store.changes import Row
from triggerfish.store.jsontext import dumps

JSON_COLUMNS = frozenset(
    {
        "todotally",
        "permissions",  # users (written through SQLAlchemy, listed for completeness)
        "fields",
        "package",
        "result",
        "data",
        "properties",
        "groups",
        "jobtypes",  # hosts (written through SQLAlchemy, listed for completeness)
        "latches",
        "bindings",
        "payload",
        "params",
        "options",
    }
)


def _encoded(value: Any) -> str | None:
    return dumps(value) if value is not None else None


def _q(name: str) -> str:
    return f'"{name}"'  # quoted: "user" is a reserved word on PostgreSQL


def _pg_type(table: str, column: str, key: bool) -> str:
    """The type a column has in the record ``json_to_recordset`` builds.

    Keys keep their own type (the join must use the primary key index). Other integers are
    read as numeric and cast on assignment, so a float such as ``5.0`` is taken as a
    per-row parameter would be; strings are text (the column's length limit still applies).
    """
    typ = tables.metadata.tables[table].c[column].type
    if isinstance(typ, sa.JSON):
        return "json"
    if isinstance(typ, sa.Boolean):
        return "boolean"
    if isinstance(typ, sa.Float):
        return "float8"
    if isinstance(typ, sa.Integer):  # BigInteger too
        if not key:
            return "numeric"
        return "int8" if isinstance(typ, sa.BigInteger) else "int4"
    return "text"


def _spec(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    spec = [f"{_q(c)} {_pg_type(table, c, False)}" for c in columns]
    spec += [f"{_q(k)} {_pg_type(table, k, True)}" for k in keys]
    return ", ".join(spec)


def _recordset(table: str, columns: Sequence[str]) -> str:
    """``json_to_recordset(%s::json) AS r(col type, ...)`` for a JSON array of row objects."""
    return f"json_to_recordset(%s::json) AS r({_spec(table, columns, ())})"


def _keyed_rows(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """The rows to join with ``table`` by key, as ``v``.

    ``json_to_recordset`` is estimated at 100 rows whatever it holds, against which the planner
    prefers a hash join over a whole table of up to tens of thousands of rows to 100 lookups
    by key. ``unnest`` of an array is estimated at 10 elements: with the rows gathered into an
    array first, each is found through the primary key.
    """
    spec = _spec(table, columns, keys)
    return f"unnest(ARRAY(SELECT r FROM json_to_recordset(%s::json) AS r({spec}))) AS v({spec})"


class Statement:
    """One UPDATE … WHERE keys, DELETE … WHERE keys or INSERT, with its column order for
    positional parameters; on PostgreSQL also its form for many rows at once (``batch``)."""

    def __init__(
        self,
        sql: str,
        columns: Sequence[str],
        keys: Sequence[str] = (),
        batch: str | None = None,
    ) -> None:
        self.sql = sql
        self.batch = batch
        self.keys = list(keys)
        self.order = [*columns, *keys]
        self.json = [i for i, c in enumerate(self.order) if c in JSON_COLUMNS]
        self._get = operator.itemgetter(*self.order) if len(self.order) > 1 else None
        self._key = operator.itemgetter(*keys) if keys else None

    def batch_param(self, rows: list[Row]) -> str:
        """The rows as one JSON array of objects with the statement's columns.

        Rows with the same key: the last one wins, as when they run one after the other.
        """
        order = self.order
        if self._key is not None:
            key = self._key
            rows = list({key(r): r for r in rows}.values())
        return dumps([{c: r[c] for c in order} for r in rows])

    def params(self, rows: list[Row]) -> list[tuple[Any, ...]]:
        if self._get is None:  # one column: itemgetter would not give a tuple
            return [(_encoded(r[self.order[0]]) if self.json else r[self.order[0]],) for r in rows]
        get, at = self._get, self.json
        if not at:
            return [get(r) for r in rows]
        out = []
        for r in rows:
            values = list(get(r))
            for i in at:
                if values[i] is not None:
                    values[i] = dumps(values[i])
            out.append(tuple(values))
        return out

    def run(self, conn: sa.Connection, rows: list[Row]) -> None:
        """Execute for ``rows`` on the DBAPI cursor of ``conn``, in its open transaction.

        Even ``exec_driver_sql`` costs a few times the driver's own work per statement (an
        execution context, result set-up), and a commit runs several of these statements.
        """
        if rows:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                if self.batch is not None and len(rows) > 1:
                    cursor.execute(self.batch, (self.batch_param(rows),))
                    return
                params = self.params(rows)
                if len(params) == 1:  # psycopg: executemany is a pipeline of its own
                    cursor.execute(self.sql, params[0])
                else:
                    cursor.executemany(self.sql, params)
            finally:
                cursor.close()


def update(dialect: str, table: str, columns: Sequence[str], keys: Sequence[str]) -> Statement:
    p = "%s" if dialect == "postgresql" else "?"
    sets = ", ".join(f"{_q(c)} = {p}" for c in columns)
    where = " AND ".join(f"{_q(k)} = {p}" for k in keys)
    batch = None
    if dialect == "postgresql":
        bsets = ", ".join(f"{_q(c)} = v.{_q(c)}" for c in columns)
        bwhere = " AND ".join(f"t.{_q(k)} = v.{_q(k)}" for k in keys)
        rows = _keyed_rows(table, columns, keys)
        batch = f"UPDATE {_q(table)} AS t SET {bsets} FROM {rows} WHERE {bwhere}"
    return Statement(f"UPDATE {_q(table)} SET {sets} WHERE {where}", columns, keys, batch)


def delete(dialect: str, table: str, keys: Sequence[str]) -> Statement:
    p = "%s" if dialect == "postgresql" else "?"
    where = " AND ".join(f"{_q(k)} = {p}" for k in keys)
    batch = None
    if dialect == "postgresql":
        bwhere = " AND ".join(f"t.{_q(k)} = v.{_q(k)}" for k in keys)
        rows = _keyed_rows(table, (), keys)
        batch = f"DELETE FROM {_q(table)} AS t USING {rows} WHERE {bwhere}"
    return Statement(f"DELETE FROM {_q(table)} WHERE {where}", (), keys, batch)


def insert(dialect: str, table: str, columns: Sequence[str]) -> Statement:
    p = "%s" if dialect == "postgresql" else "?"
    cols = ", ".join(_q(c) for c in columns)
    marks = ", ".join(p for _ in columns)
    batch = None
    if dialect == "postgresql":
        values = ", ".join(f"r.{_q(c)}" for c in columns)
        batch = (
            f"INSERT INTO {_q(table)} ({cols}) SELECT {values} FROM {_recordset(table, columns)}"
        )
    return Statement(f"INSERT INTO {_q(table)} ({cols}) VALUES ({marks})", columns, (), batch)


class Together:
    """Several batched PostgreSQL statements (on different tables) as one statement: each a
    data-modifying ``WITH`` clause, run exactly once, with its rows as one JSON parameter (an
    empty array when there are none). The hot kinds of change of a group commit (counters, job,
    instance and item updates, events) so cost one execution, prepared once, not five.

    The clauses see the same snapshot and run in no defined order: they must not touch rows
    that another clause of the statement writes (an insert and an update of one table are
    fine: a group commit never updates a row it inserts).

    A commit runs the statement made of the clauses it has rows for (``shape``): a clause
    with an empty array still costs the server its share of planning and starting the
    statement, about a third of the time of a task's add with all eight. Each such statement
    is prepared on its own; a farm uses a handful of them.
    """

    def __init__(self, statements: Sequence[Statement]) -> None:
        parts = []
        for i, s in enumerate(statements):
            if s.batch is None:
                raise ValueError("Together takes PostgreSQL batch statements only")
            parts.append(f"s{i} AS ({s.batch})")
        self.statements = list(statements)
        self._shapes: dict[tuple[bool, ...], Together] = {}
        self.sql = f"WITH {', '.join(parts)} SELECT 1"
        # the same with $1, $2, … for a raw cursor: psycopg parses a query for its %s marks
        # on every execution unless it is short enough for its cache (4 KiB), and this may not
        pieces = self.sql.split("%s")
        self.raw_sql = pieces[0] + "".join(f"${i}{p}" for i, p in enumerate(pieces[1:], 1))

    def shape(self, rows: Sequence[list[Row]]) -> tuple[Together, list[list[Row]]]:
        """The statement of just the clauses that have rows (``rows[i]`` for
        ``statements[i]``), and their rows."""
        mask = tuple(bool(r) for r in rows)
        if len(mask) != len(self.statements):
            raise ValueError(f"{len(mask)} lists of rows for {len(self.statements)} statements")
        if all(mask):
            return self, list(rows)
        part = self._shapes.get(mask)
        if part is None:
            chosen = [s for s, m in zip(self.statements, mask, strict=True) if m]
            part = self._shapes[mask] = Together(chosen)
        return part, [r for r in rows if r]

    def _params(self, rows: Sequence[list[Row]]) -> tuple[str, ...]:
        return tuple(s.batch_param(r) for s, r in zip(self.statements, rows, strict=True))

    def run(self, conn: sa.Connection, rows: Sequence[list[Row]]) -> None:
        """Execute with ``rows[i]`` for ``statements[i]``; nothing when every list is empty."""
        if not any(rows):
            return
        part, rows = self.shape(rows)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(part.sql, part._params(rows))
        finally:
            cursor.close()

    def run_on(self, raw: Any, rows: Sequence[list[Row]]) -> None:
        """As :meth:`run`, on a psycopg connection (in autocommit mode the statement is the
        transaction), through a raw cursor (no parsing of the query text)."""
        if not any(rows):
            return
        import psycopg  # PostgreSQL only

        part, rows = self.shape(rows)
        with psycopg.RawCursor(raw) as cursor:
            cursor.execute(part.raw_sql, part._params(rows))
