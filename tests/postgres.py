"""The session's PostgreSQL server (``gateway.testing.postgres``) and a fresh database per test.

Tests that need it take the ``postgres_url`` fixture: a fresh, empty database of their own.
Without the server binaries those tests are skipped, saying what to install; ``.ci/run``
installs them, so CI runs them.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from gateway.testing.postgres import ServerUnavailable, temporary_server
from gateway.testing.postgres import create_database as testing_create_database

__all__ = ["create_database", "drop_database", "postgres_server", "postgres_url"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running server's maintenance database, as superuser ``gateway``."""
    try:
        with temporary_server() as url:
            yield url
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


async def create_database(server: str) -> str:
    """A fresh, empty database on ``server``; its URL."""
    return await testing_create_database(server, f"t_{secrets.token_hex(6)}")


async def drop_database(server: str, url: str) -> None:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh database of this test's own on the session's server."""
    url = await create_database(postgres_server)
    yield url
    await drop_database(postgres_server, url)
