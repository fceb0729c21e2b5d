"""DATABASE_URL → a Django DATABASES entry (SQLite or PostgreSQL), for jobsite/settings.py."""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def postgres_options(query: str) -> dict:
    """OPTIONS of a PostgreSQL DATABASE_URL from its query string. Two are typed, as Django
    passes them on to psycopg: `server_side_binding` (true/false) and `prepare_threshold`
    (a number, or none: never prepare, Django's default for connection poolers)."""
    options = {k: v[-1] for k, v in parse_qs(query).items()}
    if "server_side_binding" in options:
        value = options["server_side_binding"].strip().lower()
        if value not in {"true", "false", "1", "0"}:
            raise ImproperlyConfigured(
                f"DATABASE_URL: server_side_binding={value!r}, use true or false"
            )
        options["server_side_binding"] = value in {"true", "1"}
    if "prepare_threshold" in options:
        value = options["prepare_threshold"].strip().lower()
        try:
            options["prepare_threshold"] = None if value == "none" else int(value)
        except ValueError:
            raise ImproperlyConfigured(
                f"DATABASE_URL: prepare_threshold={value!r}, use a number or none"
            ) from None
    return options


def with_idle_timeout(options: dict, seconds: float) -> dict:
    """libpq's startup `options` with the server's idle_in_transaction_session_timeout
    added to any the URL gave (a connection pooler that refuses startup options, such as
    PgBouncer, needs 0 here and its own idle_transaction_timeout instead)."""
    if seconds <= 0:
        return options
    setting = f"-c idle_in_transaction_session_timeout={round(seconds * 1000)}"
    given = options.get("options", "").strip()
    return {**options, "options": f"{given} {setting}".strip()}


def database_from_url(
    url: str,
    *,
    base_dir: Path,
    data_dir: Path,
    conn_max_age: int,
    idle_in_transaction_seconds: float = 0,
    sqlite_write_turns: bool = True,
) -> dict:
    """Turn a DATABASE_URL (sqlite:///path or postgres://user:pass@host:port/name) into
    a Django DATABASES entry. Fails with a one-line message on anything else.

    `sqlite_write_turns` (SQLite): jobsite's backend, which queues writers for the
    write lock (jobsite/sqlite3/base.py), instead of Django's own.

    `idle_in_transaction_seconds` (PostgreSQL, 0 = never): the server ends a session that
    sits inside a transaction, waiting for its client, for longer than that. A worker
    cut off from the database in the middle of a finish would otherwise hold its job's
    row lock until its link came back, and the reaper, waiting on that lock, could not
    take the step back (docs/engine.md, "a host cut off from the database")."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/to/project.db or sqlite:////absolute/path.db
        path = unquote(url.split(":///", 1)[1]) if ":///" in url else ""
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
            raise ImproperlyConfigured(
                "DATABASE_URL: sqlite needs a file path, e.g. sqlite:///data/jobsite.db"
            )
        db_path = Path(path)
        if not db_path.is_absolute():
            db_path = base_dir / db_path
        return {
            # jobsite.sqlite3 queues the writers in the kernel for SQLite's write lock
            # instead of its busy handler's sleeps (jobsite/sqlite3/base.py).
            "ENGINE": "jobsite.sqlite3" if sqlite_write_turns else "django.db.backends.sqlite3",
            "NAME": str(db_path),
            "OPTIONS": {
                # WAL lets readers (the web pages) run while a worker writes; IMMEDIATE
                # transactions take the write lock up front so two writers queue instead
                # of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
            },
            "CONN_MAX_AGE": conn_max_age,
            # One file per test process: several test runs may share a checkout.
            "TEST": {"NAME": str(data_dir / f"test-jobsite-{os.getpid()}.db")},
        }
    if scheme in {"postgres", "postgresql", "pgsql", "postgresql+psycopg"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(
                "DATABASE_URL: a PostgreSQL URL needs a database name, e.g. postgres://user@host:5432/jobsite"
            )
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": with_idle_timeout(
                postgres_options(parts.query), idle_in_transaction_seconds
            ),
            "TEST": {"NAME": f"test_{name}_{os.getpid()}"},
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {scheme or '(none)'!r} is not supported; use sqlite:///path or postgres://user:pass@host:port/name"
    )
