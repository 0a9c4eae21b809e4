"""A throw-away PostgreSQL server for tests and benchmarks: ``initdb`` and ``pg_ctl`` (Debian's
``postgresql`` package) into a temporary directory, on a free loopback port, trust auth, no
fsync. As root (containers) the server runs as the ``postgres`` user, since PostgreSQL refuses
to run as root.

    with temporary_server() as url:   # postgresql://gateway@127.0.0.1:PORT/postgres
        ...

``ServerUnavailable`` says what to install when the binaries are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ServerUnavailable", "create_database", "server_available", "temporary_server"]


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server binaries here."""


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(versions[0]).parent if versions else None


def server_available() -> bool:
    """Whether PostgreSQL's server binaries are installed here."""
    return _bindir() is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def temporary_server(max_connections: int = 300) -> Iterator[str]:
    """Run a server for the duration of the block; yield its maintenance database's URL, as
    superuser ``gateway``."""
    bindir = _bindir()
    if bindir is None:
        raise ServerUnavailable(
            "PostgreSQL server binaries are not installed (apt-get install postgresql)"
        )
    base = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
    data, log = base / "data", base / "server.log"
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, capture_output=True, timeout=120)  # noqa: S603

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "gateway", "--auth=trust",
            "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += f" -c max_connections={max_connections}"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        try:
            yield f"postgresql://gateway@127.0.0.1:{port}/postgres"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def create_database(server: str, name: str) -> str:
    """A new, empty database ``name`` on ``server`` (a ``temporary_server`` URL); its URL.
    Needs asyncpg (``pip install webhook-gateway[postgres]``)."""
    import asyncpg

    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.rsplit("/", 1)[0] + f"/{name}"
