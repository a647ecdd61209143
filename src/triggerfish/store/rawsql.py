"""The hot statements of a group commit, as plain driver SQL.

A busy farm writes a few rows per frame: item and job updates, events, counters. Through
SQLAlchemy Core's statement machinery these cost several times what the database does, so
they go to the driver directly (the DBAPI cursor of the transaction's connection, with
positional parameters), with JSON columns encoded as SQLAlchemy's JSON type would encode them.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from triggerfish.store.changes import Row

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
        "latches",
        "bindings",
        "payload",
        "params",
        "options",
    }
)


def _encoded(value: Any) -> str | None:
    return json.dumps(value) if value is not None else None


def _q(name: str) -> str:
    return f'"{name}"'  # quoted: "user" is a reserved word on PostgreSQL


class Statement:
    """One UPDATE … WHERE keys or INSERT, with its column order for positional parameters."""

    def __init__(self, sql: str, columns: Sequence[str], keys: Sequence[str] = ()) -> None:
        self.sql = sql
        self.order = [*columns, *keys]
        self.json = [i for i, c in enumerate(self.order) if c in JSON_COLUMNS]
        self._get = operator.itemgetter(*self.order) if len(self.order) > 1 else None

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
                    values[i] = json.dumps(values[i])
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
    return Statement(f"UPDATE {_q(table)} SET {sets} WHERE {where}", columns, keys)


def delete(dialect: str, table: str, keys: Sequence[str]) -> Statement:
    p = "%s" if dialect == "postgresql" else "?"
    where = " AND ".join(f"{_q(k)} = {p}" for k in keys)
    return Statement(f"DELETE FROM {_q(table)} WHERE {where}", (), keys)


def insert(dialect: str, table: str, columns: Sequence[str]) -> Statement:
    p = "%s" if dialect == "postgresql" else "?"
    cols = ", ".join(_q(c) for c in columns)
    marks = ", ".join(p for _ in columns)
    return Statement(f"INSERT INTO {_q(table)} ({cols}) VALUES ({marks})", columns)
