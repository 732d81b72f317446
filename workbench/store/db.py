"""Engine creation and the Store handle shared by the CLI, runner and web app."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from workbench.config import Settings
from workbench.store.migrations import migrate


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the page read while the runner writes; NORMAL sync is durable
    # across process crashes (only an OS crash can lose the last commit).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _enable_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _enable_wal(cursor, wait_s: float = 30.0) -> None:
    """Switching a new database to WAL needs it to itself, and SQLite answers "database is locked"
    at once, without waiting, when another process opening it at the same moment holds it: try
    again for a while, as busy_timeout does for everything else."""
    import sqlite3
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


_WRITE_LOCK = "workbench_write_lock"  # execution option of the connections write_transaction() opens


def _sqlite_begin(conn: sa.Connection) -> None:
    # pysqlite opens a transaction only at the first write, so the reads before it would see a state
    # another writer may change before we write: a write that depends on a read takes the lock first.
    # Other transactions keep pysqlite's behaviour (WAL readers never wait for the writer).
    if conn.get_execution_options().get(_WRITE_LOCK):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # Threads share the engine: the writer, the API thread pool, the live socket readers.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)


@dataclass
class Store:
    settings: Settings
    engine: Engine
    # What read models keep in memory for this database (grid/marks.py), by owner; gone with the store.
    caches: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()


_CREATING = threading.Lock()
T = TypeVar("T")


def store_cache(store: Store, key: str, make: Callable[[], T]) -> T:
    """The store's cache named ``key`` (in ``store.caches``), made by ``make`` on first use."""
    cache = store.caches.get(key)
    if cache is None:
        with _CREATING:
            cache = store.caches.setdefault(key, make())
    return cache


def open_store(settings: Settings) -> Store:
    """Open (and migrate) the database named by the settings."""
    settings.ensure_data_dir()  # uploads, task files and exports live there whatever the database
    if settings.is_sqlite:
        db_path = settings.database_url.removeprefix("sqlite:///")
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    migrate(engine, lambda: _locked_transaction(engine))
    return Store(settings=settings, engine=engine)


@contextmanager
def write_transaction(store: Store, *keys: str) -> Iterator[sa.Connection]:
    """A transaction for a write that depends on what it reads: it holds its lock from the first read.

    SQLite: the database's write lock (BEGIN IMMEDIATE; other writers wait up to busy_timeout, readers
    don't wait). PostgreSQL: an advisory lock per key (see ``lock``); rows that exist are better locked
    by reading them ``FOR UPDATE``. Lock order, to avoid deadlocks: these keys, then keys taken with
    ``lock`` later, then rows, then the event log's lock (always last, just before the commit)."""
    with _locked_transaction(store.engine) as conn:
        lock(conn, *keys)
        yield conn


@contextmanager
def _locked_transaction(engine: Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_LOCK: True})
        with conn.begin():
            yield conn


def lock(conn: sa.Connection, *keys: str) -> None:
    """Take the PostgreSQL advisory locks named by ``keys`` until the transaction ends (in a stable
    order). On SQLite the write transaction already excludes every other writer."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def try_lock(conn: sa.Connection, key: str) -> bool:
    """``lock`` without waiting: False if another transaction holds ``key``."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
                             {"key": key}).scalar())


def postgres_settings(conn: sa.Connection, *settings: str) -> None:
    """``SET LOCAL`` each of ``settings`` (e.g. "jit = off") for this transaction on PostgreSQL; nothing
    on SQLite. The settings are the code's own text, never a user's."""
    if conn.dialect.name != "postgresql":
        return
    for setting in settings:
        conn.exec_driver_sql(f"SET LOCAL {setting}")


def dialect_insert(conn: sa.Connection, table: sa.Table):
    """INSERT with the dialect's ``on_conflict_do_update`` / ``on_conflict_do_nothing`` (both stores have them)."""
    # Only the store's own dialect: importing PostgreSQL's costs ~35 ms of a SQLite process's start.
    name = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    return importlib.import_module(f"sqlalchemy.dialects.{name}").insert(table)


@lru_cache(maxsize=16)
def driver_insert_sql(dialect: sa.Dialect, table: str, columns: tuple[str, ...], *,
                      ignore_conflicts: bool = False) -> str:
    """An INSERT of ``columns`` in the driver's own parameter style, for ``exec_driver_sql`` with a
    list of tuples: SQLAlchemy's per-row work on dicts (keys, bind parameters) cost more than the
    insert itself on the runner's and the import's hot paths."""
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return (f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) "
            f"VALUES ({', '.join([mark] * len(columns))}){conflict}")


def refresh_statistics(store: Store, table: str, *, vacuum: bool = False) -> None:
    """After a bulk change, tell the planner what ``table`` holds now. PostgreSQL would otherwise
    wait for autovacuum, and with the statistics of an empty table it reads whole tables for a
    50-row page (240 ms instead of 10 at 200K records). SQLite without statistics looks results up
    by primary key even where results_verdicts alone would answer (a quarter slower per lookup).

    ``vacuum`` also marks PostgreSQL's pages all-visible, which is what lets it answer from an
    index alone. SKIP_LOCKED: if autovacuum is at it already, that will do."""
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (ANALYZE, SKIP_LOCKED) {table}" if vacuum else f"ANALYZE {table}")
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {table}")


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
