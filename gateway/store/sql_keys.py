"""The SQL stores' keys issued at run time (table ``issued_keys``, migration 0011) and the
command line's sign-ins of people (``person_tokens``, 0013): one implementation for SQLite and
PostgreSQL, as ``gateway.store.sql`` writes the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.store.base import IssuedKey, PersonToken

__all__ = ["IssuedKeysSql", "PersonTokensSql"]

_PERSON = "digest, refresh_digest, person, expires_at, refresh_expires_at"
_COLUMNS = "id, name, digest, team, grants, created_at, created_by, expires_at, last_used"
_BY_DIGEST = f"SELECT {_COLUMNS} FROM issued_keys WHERE digest = ?"  # noqa: S608 - fixed
_REVOKE = f"DELETE FROM issued_keys WHERE id = ? RETURNING {_COLUMNS}"  # noqa: S608 - fixed


def _key(row: Mapping[str, Any]) -> IssuedKey:
    return IssuedKey(
        id=row["id"], name=row["name"], digest=row["digest"], team=row["team"],
        grants=tuple(orjson.loads(row["grants"])), created_at=row["created_at"],
        created_by=row["created_by"], expires_at=row["expires_at"], last_used=row["last_used"],
    )  # fmt: skip


class IssuedKeysSql:
    """Mixed into ``SqlStore`` (which gives ``transaction`` and ``execute_one``)."""

    transaction: Any
    execute_one: Any

    async def issue_key(self, key: IssuedKey) -> bool:
        async with self.transaction() as tx:
            row = await tx.fetchrow(
                f"INSERT INTO issued_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 - fixed columns
                "ON CONFLICT DO NOTHING RETURNING id",
                key.id, key.name, key.digest, key.team,
                orjson.dumps([dict(g) for g in key.grants]).decode(), key.created_at,
                key.created_by, key.expires_at, key.last_used,
            )  # fmt: skip
        return row is not None

    async def issued_key(self, digest: str) -> IssuedKey | None:
        async with self.transaction() as tx:
            row = await tx.fetchrow(_BY_DIGEST, digest)
        return None if row is None else _key(row)

    async def issued_keys(self) -> list[IssuedKey]:
        async with self.transaction() as tx:
            rows = await tx.fetch(f"SELECT {_COLUMNS} FROM issued_keys ORDER BY name")  # noqa: S608
        return [_key(r) for r in rows]

    async def revoke_key(self, id: str) -> IssuedKey | None:
        async with self.transaction() as tx:
            row = await tx.fetchrow(_REVOKE, id)
        return None if row is None else _key(row)

    async def touch_key(self, id: str, now: float) -> None:
        await self.execute_one("UPDATE issued_keys SET last_used = ? WHERE id = ?", now, id)


def _person(row: Mapping[str, Any]) -> PersonToken:
    return PersonToken(
        digest=row["digest"], refresh_digest=row["refresh_digest"],
        person=orjson.loads(row["person"]), expires_at=row["expires_at"],
        refresh_expires_at=row["refresh_expires_at"],
    )  # fmt: skip


class PersonTokensSql:
    """Mixed into ``SqlStore`` (which gives ``transaction`` and ``execute_one``)."""

    transaction: Any
    execute_one: Any

    async def save_person_token(self, token: PersonToken) -> None:
        await self.execute_one(
            f"INSERT INTO person_tokens ({_PERSON}) VALUES (?, ?, ?, ?, ?)",  # noqa: S608 - fixed
            token.digest, token.refresh_digest, orjson.dumps(dict(token.person)).decode(),
            token.expires_at, token.refresh_expires_at,
        )  # fmt: skip

    async def person_token(self, digest: str) -> PersonToken | None:
        async with self.transaction() as tx:
            row = await tx.fetchrow(_PERSON_BY_DIGEST, digest)
        return None if row is None else _person(row)

    async def take_refresh(self, refresh_digest: str) -> PersonToken | None:
        async with self.transaction() as tx:
            row = await tx.fetchrow(_TAKE_REFRESH, refresh_digest)
        return None if row is None else _person(row)

    async def drop_person_token(self, digest: str) -> None:
        await self.execute_one("DELETE FROM person_tokens WHERE digest = ?", digest)


_PERSON_BY_DIGEST = f"SELECT {_PERSON} FROM person_tokens WHERE digest = ?"  # noqa: S608 - fixed
_TAKE_REFRESH = f"DELETE FROM person_tokens WHERE refresh_digest = ? RETURNING {_PERSON}"  # noqa: S608
