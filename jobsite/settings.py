"""Django settings for jobsite.

Every setting comes from the environment (SPEC §12), read here by the `env_*` helpers of
jobsite/env.py, which name the variable when its value is not what it should be. The defaults make the
embedded setup work: SQLite in ./data, the django-q2 ORM broker, DEBUG off unless asked
for. The test settings (tests/settings.py) import these and override what tests need.
"""

import socket
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from jobsite.api.conf import API_REST_FRAMEWORK, API_SPECTACULAR_SETTINGS
from jobsite.database_url import database_from_url
from jobsite.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_positive_int,
    env_str,
    require_extra,
)
from jobsite.logging_conf import logging_config
from jobsite.queue_conf import queue_cluster

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

DATA_DIR = Path(env_str("JOBSITE_DATA_DIR", str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY and (DATA_DIR / "secret_key").is_file():
    # `make run` writes one here, so `manage.py runjob` in a second shell just works.
    SECRET_KEY = (DATA_DIR / "secret_key").read_text().strip()
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is required unless DEBUG=1 (set it in the environment)"
        )

# Keys that encrypt secrets at rest (SPEC §15, docs/security.md): comma-separated Fernet
# keys, the first encrypts, every one decrypts (put a new key first, then run
# `manage.py rotate_encryption_key`). `make run` writes one to data/encryption_key.
JOBSITE_ENCRYPTION_KEYS = env_list("JOBSITE_ENCRYPTION_KEY", [])
if not JOBSITE_ENCRYPTION_KEYS and (DATA_DIR / "encryption_key").is_file():
    JOBSITE_ENCRYPTION_KEYS = [
        key.strip() for key in (DATA_DIR / "encryption_key").read_text().split(",") if key.strip()
    ]
if not JOBSITE_ENCRYPTION_KEYS:
    if DEBUG:
        import base64
        import hashlib

        # Derived from SECRET_KEY so a development database stays readable across restarts.
        _derived = hashlib.sha256(b"jobsite-encryption:" + SECRET_KEY.encode()).digest()
        JOBSITE_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(_derived).decode()]
    else:
        raise ImproperlyConfigured(
            "JOBSITE_ENCRYPTION_KEY is required unless DEBUG=1 (or write one to data/encryption_key; see docs/security.md)"
        )

# Days after a job finishes until its secret values are erased (0: kept as long as the job).
JOBSITE_SECRET_RETENTION_DAYS = env_int("JOBSITE_SECRET_RETENTION_DAYS", 30)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# HTTPS deployments (SPEC §15, docs/deploy.md): TLS ends at a proxy or load balancer that
# sets X-Forwarded-Proto (and strips a client's own). Cookies are then sent over HTTPS
# only, plain HTTP is redirected (but for the load balancer's /healthz and /readyz), and
# browsers are told to use HTTPS only (HSTS) for JOBSITE_HSTS_SECONDS.
JOBSITE_HTTPS = env_bool("JOBSITE_HTTPS", False)
JOBSITE_HSTS_SECONDS = env_int("JOBSITE_HSTS_SECONDS", 365 * 24 * 3600)
JOBSITE_HSTS_INCLUDE_SUBDOMAINS = env_bool("JOBSITE_HSTS_INCLUDE_SUBDOMAINS", True)
JOBSITE_HSTS_PRELOAD = env_bool("JOBSITE_HSTS_PRELOAD", False)
if JOBSITE_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = JOBSITE_HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = JOBSITE_HSTS_INCLUDE_SUBDOMAINS
    SECURE_HSTS_PRELOAD = JOBSITE_HSTS_PRELOAD
    if not SECURE_HSTS_PRELOAD:
        # Asking browsers to preload HSTS for a whole domain is its owner's decision, not
        # a default (anyone may submit a domain that sends `preload`); the check that
        # suggests it stays silent unless JOBSITE_HSTS_PRELOAD=1.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "django_htmx",
    "jobsite",
    "templates_app",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # HTML and JSON go out gzipped (static files come precompressed from whitenoise).
    # CSRF tokens are masked per response, which is Django's answer to BREACH.
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "jobsite.text_input.UnstorableTextMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "jobsite.db_unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "jobsite.urls"
WSGI_APPLICATION = "jobsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Step leases (docs/engine.md), read before the databases: a connection's idle timeout
# follows them. A session idle inside a transaction longer than a third of a lease (at
# least 2 s) is ended by PostgreSQL, so that a worker frozen mid-finish cannot hold its
# job's lock past its lease (jobsite/database_url.py).
JOBSITE_LEASE_SECONDS = env_int("JOBSITE_LEASE_SECONDS", 30)
JOBSITE_DB_IDLE_TRANSACTION_SECONDS = env_float(
    "JOBSITE_DB_IDLE_TRANSACTION_SECONDS", max(2.0, JOBSITE_LEASE_SECONDS / 3)
)

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'jobsite.db'}"),
        base_dir=BASE_DIR,
        data_dir=DATA_DIR,
        # Connections persist: opening one (and SQLite's PRAGMAs) on every request or
        # task cost more than the work itself (docs/benchmarks.md).
        conn_max_age=env_int("JOBSITE_CONN_MAX_AGE", 600),
        idle_in_transaction_seconds=JOBSITE_DB_IDLE_TRANSACTION_SECONDS,
        # SQLite: writers wait for their turn in the kernel, not in SQLite's busy
        # handler (jobsite/sqlite3/base.py); 0 = Django's own backend.
        sqlite_write_turns=env_bool("JOBSITE_SQLITE_WRITE_TURNS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    require_extra("psycopg", "postgres", "DATABASE_URL (PostgreSQL)")
# PostgreSQL: the named statements of the hot paths are prepared once per connection
# (jobsite/named_sql.py). Off behind a pooler that shares sessions between clients
# (PgBouncer in transaction mode).
JOBSITE_DB_PREPARED_STATEMENTS = env_bool("JOBSITE_DB_PREPARED_STATEMENTS", True)
# PostgreSQL: a claim's or a finish's UPDATEs, under the job's lock, go to the server with
# the section's next statement instead of one round trip each (jobsite/sent_together.py).
JOBSITE_DB_HELD_WRITES = env_bool("JOBSITE_DB_HELD_WRITES", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
MEDIA_ROOT = Path(env_str("JOBSITE_STORAGE_DIR", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names (cached for a year by whitenoise) and gzip copies made by
        # collectstatic, which `serve` runs; DEBUG (and tests/settings.py) read the
        # source files.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- security headers: Django's own middleware ---------------------------------------

# The pages need no inline script or style: htmx is a static file configured by a meta
# tag (no eval, no injected indicator styles), our few lines of JS are a static file, and
# charts are SVG drawn with attributes. So the policy allows only this origin's files —
# an injected `<script>` or `onerror=` can neither run nor load anything. A view may send
# its own, stricter policy (artifact downloads are sandboxed); the middleware keeps it.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# SecurityMiddleware: X-Content-Type-Options: nosniff, Referrer-Policy and
# Cross-Origin-Opener-Policy (these are Django's defaults, written out to be seen).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- jobsite ------------------------------------------------------------------------

# Extra step types: {"name": "dotted.path.ExecutorClass"} (SPEC §4).
JOBSITE_EXECUTORS = {}
# Callables a `python` step may run, as "module:function" strings. Nothing else runs.
JOBSITE_PYTHON_STEPS = env_list(
    "JOBSITE_PYTHON_STEPS",
    ["jobs.demo_steps:summarize_numbers", "jobs.demo_steps:count_words"],
)
# The longest a single step may be allowed to run; django-q2's own timeout sits above it.
JOBSITE_MAX_STEP_TIMEOUT = env_int("JOBSITE_MAX_STEP_TIMEOUT", 6 * 3600)
JOBSITE_DEFAULT_STEP_TIMEOUT = env_int("JOBSITE_DEFAULT_STEP_TIMEOUT", 3600)
JOBSITE_HEARTBEAT_SECONDS = env_int("JOBSITE_HEARTBEAT_SECONDS", 3)
JOBSITE_DISPATCH_INTERVAL = env_float("JOBSITE_DISPATCH_INTERVAL", 1.0)
JOBSITE_KILL_GRACE_SECONDS = env_float("JOBSITE_KILL_GRACE_SECONDS", 1.0)
# Eager dispatch (SPEC §7, docs/engine.md): a finishing worker runs one step its finish
# made ready at once, without the broker. Off only to measure what it saves.
JOBSITE_EAGER_DISPATCH = env_bool("JOBSITE_EAGER_DISPATCH", True)
# With it, the most tasks (doorbells) one enqueue puts on a pool's queue; 0: Q_CLUSTER's workers.
JOBSITE_DOORBELLS_PER_CALL = env_int("JOBSITE_DOORBELLS_PER_CALL", 0)
JOBSITE_LOG_LIMIT_BYTES = env_int("JOBSITE_LOG_LIMIT_BYTES", 10 * 1024 * 1024)
JOBSITE_WORKER_ID = env_str("JOBSITE_WORKER_ID", socket.gethostname())
JOBSITE_WEBHOOK_TIMEOUT = env_float("JOBSITE_WEBHOOK_TIMEOUT", 10.0)
JOBSITE_WORK_DIR = Path(env_str("JOBSITE_WORK_DIR", str(DATA_DIR / "work")))
# How long `serve` and `worker` wait for running steps after SIGTERM (SPEC §13) before
# they kill what is left; systemd's TimeoutStopSec must sit above it (docs/deploy.md).
JOBSITE_STOP_GRACE_SECONDS = env_positive_int("JOBSITE_STOP_GRACE_SECONDS", 60)

# --- step containment (SPEC §13, docs/sandbox.md, docs/security.md) --------------------

# Shell steps run in a bubblewrap sandbox: auto = when a working bwrap is found, else off
# (loudly: a system check, /readyz, a banner for staff); bwrap = always (serve, worker
# and qcluster refuse to start when it does not work); off = never.
JOBSITE_SANDBOX = env_str("JOBSITE_SANDBOX", "auto").strip().lower()
if JOBSITE_SANDBOX not in {"auto", "bwrap", "off"}:
    raise ImproperlyConfigured(f"JOBSITE_SANDBOX={JOBSITE_SANDBOX!r}: use 'auto', 'bwrap' or 'off'")
# Server caps on the per-step limits and the per-job artifacts total: a workspace's
# defaults and a template's settings.limits stay within these (docs/security.md).
JOBSITE_MAX_CPU_SECONDS = env_positive_int("JOBSITE_MAX_CPU_SECONDS", 6 * 3600)
JOBSITE_MAX_MEMORY_MB = env_positive_int("JOBSITE_MAX_MEMORY_MB", 16384)
JOBSITE_MAX_FILE_MB = env_positive_int("JOBSITE_MAX_FILE_MB", 10240)
JOBSITE_MAX_PROCESSES = env_positive_int("JOBSITE_MAX_PROCESSES", 1024)
JOBSITE_MAX_ARTIFACTS_MB = env_positive_int("JOBSITE_MAX_ARTIFACTS_MB", 10240)
# Where people reach this server: the links in notifications (SPEC §16) point there.
JOBSITE_BASE_URL = env_str("JOBSITE_BASE_URL", "http://127.0.0.1:8000")
# Notification emails go through Django's default mailer: SMTP at JOBSITE_SMTP_HOST:PORT
# (an empty host: Django's console backend, which prints them), from JOBSITE_NOTIFY_FROM.
JOBSITE_NOTIFY_FROM = env_str("JOBSITE_NOTIFY_FROM", "jobsite@localhost")
_SMTP_HOST = env_str("JOBSITE_SMTP_HOST", "localhost")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": _SMTP_HOST, "port": env_int("JOBSITE_SMTP_PORT", 25)},
    }
    if _SMTP_HOST
    else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
}
# Uploads (SPEC §6.2 uploads/): the largest one file may be, the most a workspace's
# unexpired uploads may hold together, and how long an upload id stays usable. (The
# workspace storage quota, when one is set, caps them too: jobs/uploads.py.)
JOBSITE_UPLOAD_MAX_MB = env_int("JOBSITE_UPLOAD_MAX_MB", 1024)
JOBSITE_UPLOAD_WORKSPACE_MAX_MB = env_int("JOBSITE_UPLOAD_WORKSPACE_MAX_MB", 10 * 1024)
JOBSITE_UPLOAD_EXPIRY_HOURS = env_int("JOBSITE_UPLOAD_EXPIRY_HOURS", 24)
# Mounts bench/bare_view.py under /bench/ (the benchmarks' baseline view; never in production).
JOBSITE_BENCH_VIEWS = env_bool("JOBSITE_BENCH_VIEWS", False)

# --- django-q2: the doorbell and the process pool (SPEC §7) ------------------------

JOBSITE_BROKER = env_str("JOBSITE_BROKER", "orm")
# Where `serve` answers (host:port); `demo` prints this address and points the demo
# templates that call the server itself (host-report) at it.
JOBSITE_BIND = env_str("JOBSITE_BIND", "127.0.0.1:8000")
if JOBSITE_BROKER not in {"orm", "redis"}:
    raise ImproperlyConfigured(f"JOBSITE_BROKER={JOBSITE_BROKER!r}: use 'orm' or 'redis'")
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
if JOBSITE_BROKER == "redis":
    require_extra("redis", "redis", "JOBSITE_BROKER=redis")
JOBSITE_WORKERS = env_int("JOBSITE_WORKERS", 2)

Q_CLUSTER = queue_cluster(
    name=env_str("JOBSITE_QUEUE_NAME", "jobsite"),
    workers=JOBSITE_WORKERS,
    max_step_timeout=JOBSITE_MAX_STEP_TIMEOUT,
    poll=env_float("JOBSITE_QUEUE_POLL_SECONDS", 0.1),
    redis_url=REDIS_URL if JOBSITE_BROKER == "redis" else None,
)

# --- REST API v1 (SPEC §6) ------------------------------------------------------------

# Requests per key (or per logged-in user, or per client address when anonymous), as
# "N/second|minute|hour|day". Generous: a CI system polling status/ every second fits.
JOBSITE_API_RATE_LIMIT = env_str("JOBSITE_API_RATE_LIMIT", "1200/minute")
# Wrong API keys (or trigger keys) from one client address before it is answered 429.
JOBSITE_API_BAD_KEY_LIMIT = env_str("JOBSITE_API_BAD_KEY_LIMIT", "20/minute")
# The largest request body the API reads (JSON, YAML templates, trigger forms).
JOBSITE_API_MAX_BODY_BYTES = env_int("JOBSITE_API_MAX_BODY_BYTES", 1024 * 1024)
# Deeper JSON than this is refused: nothing jobsite accepts needs more.
JOBSITE_API_MAX_JSON_DEPTH = env_int("JOBSITE_API_MAX_JSON_DEPTH", 32)
# How long an Idempotency-Key is remembered (SPEC §6.6).
JOBSITE_API_IDEMPOTENCY_HOURS = env_int("JOBSITE_API_IDEMPOTENCY_HOURS", 24)
# A key's last_used_at is written at most this often, not on every request.
JOBSITE_API_KEY_TOUCH_SECONDS = env_int("JOBSITE_API_KEY_TOUCH_SECONDS", 60)
# The longest one `logs/?follow=1` stream stays open; the client resumes with ?after=.
JOBSITE_API_LOG_FOLLOW_SECONDS = env_int("JOBSITE_API_LOG_FOLLOW_SECONDS", 600)
JOBSITE_API_LOG_POLL_SECONDS = env_float("JOBSITE_API_LOG_POLL_SECONDS", 0.5)
# Login (SPEC §15): after this many failures for one username from one client address,
# that client's attempts for that username are answered 429 until the window passes.
JOBSITE_LOGIN_FAILURE_LIMIT = env_int("JOBSITE_LOGIN_FAILURE_LIMIT", 10)
JOBSITE_LOGIN_WINDOW_SECONDS = env_int("JOBSITE_LOGIN_WINDOW_SECONDS", 15 * 60)
# How long a workspace invitation link stays valid (docs/workspaces.md).
JOBSITE_INVITATION_DAYS = env_int("JOBSITE_INVITATION_DAYS", 7)
# The egress policy (SPEC §15, jobsite/egress.py): networks that http steps, webhook
# deliveries and callback_url may not reach ("default": loopback, private, link-local
# with the metadata address, and their IPv6 equivalents), and the exceptions (networks,
# addresses, host names, each with an optional :port). `make run` allows the demo's own
# server, 127.0.0.1:8000; nothing else is allowed by default.
JOBSITE_EGRESS_DENY = env_list("JOBSITE_EGRESS_DENY", ["default"])
JOBSITE_EGRESS_ALLOW = env_list("JOBSITE_EGRESS_ALLOW", [])

# The cache holds the throttles' counters (wrong keys, logins, the per-key rate limit).
# Default: the memory of each process, so with N web processes each counts alone and a
# limit is in effect N times higher. A cache URL (redis://host:port/db) makes every
# process count against the same numbers. JOBSITE_API_CACHE_URL is the older name.
JOBSITE_CACHE_URL = env_str("JOBSITE_CACHE_URL", "") or env_str("JOBSITE_API_CACHE_URL", "")

if JOBSITE_CACHE_URL:
    require_extra("redis", "redis", "JOBSITE_CACHE_URL")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": JOBSITE_CACHE_URL,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "jobsite",
        }
    }

# DRF and drf-spectacular: fixed, not read from the environment (jobsite/api/conf.py).
REST_FRAMEWORK = API_REST_FRAMEWORK
SPECTACULAR_SETTINGS = API_SPECTACULAR_SETTINGS

LOGGING = logging_config(
    level=env_str("LOG_LEVEL", "INFO"), queue_level=env_str("JOBSITE_Q_LOG_LEVEL", "WARNING")
)

# --- worker pools and metrics (SPEC §14, §16; docs/deploy.md) --------------------------

# The pools this worker host serves; a step runs only on a host of its pool.
JOBSITE_POOLS = env_list("JOBSITE_POOLS", ["default"])
# A closed list of pool names: set, and a template naming another pool is refused; unset,
# a step in an unknown pool waits ("no worker in pool X") until a host of it appears.
JOBSITE_KNOWN_POOLS = env_list("JOBSITE_KNOWN_POOLS", [])
# /metrics answers staff sessions, and `Authorization: Bearer <this>` when set.
JOBSITE_METRICS_TOKEN = env_str("JOBSITE_METRICS_TOKEN", "")
# The step-duration histogram covers the steps finished in this many last hours.
JOBSITE_METRICS_WINDOW_HOURS = env_positive_int("JOBSITE_METRICS_WINDOW_HOURS", 24)
