"""One connection of Postgres or SQLite, for the SQL both accept: a repository written once for the two.

A stage's repository keeps its SQL in one class over ``SqlSession``, with psycopg's ``%s`` placeholders;
``PostgresSession`` runs it on a psycopg connection (the mesh) and ``SqliteSession`` on a
``mesh_kit.sqlite`` connection (``dsp serve``). Write SQL both dialects read the same way (``INSERT ...
ON CONFLICT``, ``RETURNING``, ``coalesce``); pass times as parameters rather than ``now()``; read ids
with ``uuid.UUID(str(value))`` (SQLite keeps them as text) and JSON with ``json_value``.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .sqlite import SqliteConnection

if TYPE_CHECKING:  # annotations only: the local paths run without PostgreSQL
    from psycopg import AsyncConnection

__all__ = ["PostgresSession", "SqlSession", "SqliteSession", "json_value"]

Params = Sequence[Any]


def json_value(value: Any) -> Any:
    """A JSON column's value: Postgres decodes jsonb, SQLite gives the text."""
    return json.loads(value) if isinstance(value, str | bytes) else value


class SqlSession(abc.ABC):
    """The statements of one transaction, with ``%s`` placeholders."""

    @abc.abstractmethod
    async def execute(self, query: str, params: Params = ()) -> int:
        """Run a statement; answer how many rows it changed."""

    @abc.abstractmethod
    async def fetchall(self, query: str, params: Params = ()) -> list[Sequence[Any]]:
        """The rows a statement answers (a ``RETURNING`` too), as sequences of column values."""

    @abc.abstractmethod
    async def fetchone_mapping(self, query: str, params: Params = ()) -> dict[str, Any] | None:
        """The first row a statement answers, by column name."""

    async def fetchone(self, query: str, params: Params = ()) -> Sequence[Any] | None:
        rows = await self.fetchall(query, params)
        return rows[0] if rows else None


class PostgresSession(SqlSession):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def execute(self, query: str, params: Params = ()) -> int:
        return (await self.conn.execute(query, params)).rowcount

    async def fetchall(self, query: str, params: Params = ()) -> list[Sequence[Any]]:
        return list(await (await self.conn.execute(query, params)).fetchall())

    async def fetchone_mapping(self, query: str, params: Params = ()) -> dict[str, Any] | None:
        cur = await self.conn.execute(query, params)
        row = await cur.fetchone()
        if row is None:
            return None
        return {column.name: value for column, value in zip(cur.description or (), row, strict=True)}


class SqliteSession(SqlSession):
    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def execute(self, query: str, params: Params = ()) -> int:
        return (await self.conn.execute(query.replace("%s", "?"), params)).rowcount

    async def fetchall(self, query: str, params: Params = ()) -> list[Sequence[Any]]:
        return list((await self.conn.execute(query.replace("%s", "?"), params)).fetchall())

    async def fetchone_mapping(self, query: str, params: Params = ()) -> dict[str, Any] | None:
        row = (await self.conn.execute(query.replace("%s", "?"), params)).fetchone()
        return None if row is None else dict(row)
