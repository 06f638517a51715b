"""Settings for the support messenger: one module, every value from the environment.

No variables set gives the embedded default: SQLite, Channels' in-memory layer and the
in-process shared store, in one process. ``DATABASE_URL`` switches the database to PostgreSQL
(or any URL django-environ understands) and ``REDIS_URL`` switches the channel layer, the
shared store and the cache to Redis. The backend is chosen here, once; nothing else reads the
environment.
"""
from __future__ import annotations

import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG: bool = env.bool("DEBUG", default=False)
EMBEDDED: bool = "DATABASE_URL" not in env and "REDIS_URL" not in env

# A secret is required in production; the embedded default (a first look on one machine)
# may fall back to a fixed development key.
if DEBUG or EMBEDDED:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-secret-key-change-me-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "chat",
    "presence",
    "assignment",
    "frontend",
]

MIDDLEWARE = [
    # The request's log id (X-Request-ID) and its latency metric, around everything else.
    "project.middleware.RequestIdMiddleware",
    # An outage (PostgreSQL or Redis out of reach) raised by any view answers 503 JSON.
    "project.middleware.OutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of the request: the language cookie (set at login from the operator's
    # profile) or Accept-Language; an operator's API call then switches to their profile's
    # (chat.api.security's authentication classes, chat.i18n).
    "project.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))
if "DATABASE_URL" in env:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "messenger.sqlite3"),
            # Several threads (daphne's sync workers) write: wait for the lock instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DATABASE_IS_POSTGRES: bool = DATABASES["default"]["ENGINE"].endswith("postgresql")
if DATABASE_IS_POSTGRES:
    # Django's backend, whose pool drops all its dead connections at once (project/postgresql).
    DATABASES["default"]["ENGINE"] = "project.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})
    # A pool per process (psycopg_pool) instead of a new connection per request (≈ 5 ms each
    # under ASGI, where persistent per-thread connections are not reused safely). Keep
    # processes × DB_POOL_MAX_SIZE below the server's max_connections. 0 disables the pool.
    DB_POOL_MAX_SIZE: int = env.int("DB_POOL_MAX_SIZE", default=20)
    # How long a request waits for a pooled connection before it answers 503 `unavailable`
    # (chat/outages.py). The pool's own default, 30 s, held requests (and their clients) for
    # the whole of a database outage before an HTML 500.
    DB_POOL_TIMEOUT_SECONDS: float = env.float("DB_POOL_TIMEOUT_SECONDS", default=3.0)
    # libpq's connect_timeout (whole seconds, at least 2): an unreachable host fails fast too.
    DB_CONNECT_TIMEOUT_SECONDS: int = env.int("DB_CONNECT_TIMEOUT_SECONDS", default=3)
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", DB_CONNECT_TIMEOUT_SECONDS)
    # With CONN_HEALTH_CHECKS the pool tries each connection (an empty query) before handing it
    # out, and on the first dead one replaces every dead idle connection (project/postgresql):
    # the connections a PostgreSQL restart killed never fail a request. Without a pool, Django
    # does the same check for persistent connections.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=True)
    # psycopg_pool retries a failed connection attempt with a backoff that doubles without bound
    # until `reconnect_timeout` (its default: 300 s), and the slot stays taken meanwhile: after a
    # long outage the returning database would wait for the next retry, up to minutes, while
    # requests time out. Giving up after a few seconds frees the slot; the next request that
    # waits grows the pool again at once.
    DB_POOL_RECONNECT_SECONDS: float = env.float("DB_POOL_RECONNECT_SECONDS", default=5.0)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"]["OPTIONS"].setdefault("pool", {
            "min_size": 1,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_SECONDS,
            "reconnect_timeout": DB_POOL_RECONNECT_SECONDS,
        })
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
    # Session settings, one libpq "options" string:
    # * a transaction that holds event ids must not stay open forever (see docs/realtime.md):
    #   the stream holds later events back until it ends;
    # * no JIT: it compiles any statement whose *estimated* cost passes 100,000, and the search
    #   statements carry a branch that rarely runs but is costed high: 0.7 s of compiling for a
    #   5 ms query (docs/benchmarks.md, "Search"). Short OLTP queries never gain from it.
    DATABASES["default"]["OPTIONS"].setdefault(
        "options",
        f"-c idle_in_transaction_session_timeout={env.int('DB_IDLE_IN_TRANSACTION_MS', default=60000)} -c jit=off",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, shared store, cache ----------------------------------------------
REDIS_URL: str | None = env.str("REDIS_URL", default=None)
# redis-py's default pool (100 connections) and 5 s socket timeout fail under load: the timeout
# equals the channel layer's 5 s blocking read, so idle sockets get closed. Both are pinned.
REDIS_MAX_CONNECTIONS: int = env.int("REDIS_MAX_CONNECTIONS", default=2000)
REDIS_SOCKET_TIMEOUT: float = env.float("REDIS_SOCKET_TIMEOUT", default=30.0)

# Parallel test workers share one Redis: each gets its own key space.
KEY_SPACE: str = env.str("SHARED_STORE_PREFIX", default="msg") + env.str("PYTEST_XDIST_WORKER", default="")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": REDIS_MAX_CONNECTIONS,
                        "socket_timeout": REDIS_SOCKET_TIMEOUT,
                        "socket_connect_timeout": 5,
                    }
                ],
                "prefix": f"{KEY_SPACE}:layer",
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{KEY_SPACE}:cache",
            "OPTIONS": {"max_connections": REDIS_MAX_CONNECTIONS, "socket_timeout": REDIS_SOCKET_TIMEOUT},
        }
    }
    SHARED_STORE = {"BACKEND": "redis", "URL": REDIS_URL}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SHARED_STORE = {"BACKEND": "memory"}
SHARED_STORE["PREFIX"] = KEY_SPACE

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
# Languages (docs/i18n.md): the server's default (stored activity lines, readers with no
# preference) and the ones a reader may choose. Catalogues: locale/<lang>/LC_MESSAGES/django.po,
# compiled to .mo by ``manage.py compile_locales`` (bin/serve, bin/test); browser catalogues in
# frontend/static/frontend/i18n/<lang>.js.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # set at login from the operator's profile (chat.i18n)
LANGUAGE_COOKIE_SAMESITE = "Lax"
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token and session authentication, then the operator's language (chat.i18n).
        "chat.api.security.OperatorTokenAuthentication",
        "chat.api.security.OperatorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chat.api.errors.exception_handler",
    # Bounded depth, strict UTF-8, no control characters (chat/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "chat.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "widget_token": env.str("THROTTLE_WIDGET_TOKEN", default="120/min"),
        "widget_ip": env.str("THROTTLE_WIDGET_IP", default="600/min"),
        # Report requests per operator (a Reports page load is 5): each may scan a year of messages.
        "reports": env.str("THROTTLE_REPORTS", default="120/min"),
    },
    # Proxies trusted in X-Forwarded-For when throttles identify a client IP (0: REMOTE_ADDR).
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Support messenger API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logs (docs/operations.md, "Logs") ---------------------------------------------------------
# One handler, on the root logger; every logger propagates to it and no other has a handler of
# its own, so each line is printed once. Django's default configuration gives the "django"
# logger a console handler of its own (active with DEBUG) that also propagated to ours: every
# django.* line (e.g. "Not Found: /x") was printed twice. The servers' basicConfig (daphne) is
# replaced by this one when Django starts. LOG_FORMAT=json: one JSON object per line
# (python-json-logger); the default, "text", is one readable line. Both carry the request or
# socket id (chat/logcontext.py).
LOG_FORMAT: str = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ValueError(f"LOG_FORMAT must be 'text' or 'json', not {LOG_FORMAT!r}")
LOG_LEVEL: str = env.str("LOG_LEVEL", default="WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "chat.logcontext.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "request_id"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Replace Django's own handlers (console, mail_admins, django.server's) by propagation.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# --- Operations endpoints and shutdown (project/ops.py, chat/realtime/shutdown.py) -------------
# When set, GET /metrics requires "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
# Bound of each /readyz check (PostgreSQL, Redis) and of the stream-lag read of /metrics.
READY_CHECK_TIMEOUT_SECONDS: float = env.float("READY_CHECK_TIMEOUT_SECONDS", default=1.5)
# On SIGTERM: how long in-flight socket commands may take before every socket is closed (4503).
SHUTDOWN_GRACE_SECONDS: float = env.float("SHUTDOWN_GRACE_SECONDS", default=10.0)

# --- Product tunables (flat, prefixed) --------------------------------------------------------
MESSAGE_MAX_LENGTH: int = 150_000
MESSAGE_MAX_ATTACHMENTS: int = 15
ATTACHMENT_MAX_BYTES: int = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
FLOOD_LIMIT_MESSAGES: int = env.int("FLOOD_LIMIT_MESSAGES", default=20)
FLOOD_LIMIT_WINDOW_SECONDS: int = env.int("FLOOD_LIMIT_WINDOW_SECONDS", default=60)
LAST_SEEN_THROTTLE_SECONDS: int = env.int("LAST_SEEN_THROTTLE_SECONDS", default=15)
UNREAD_COUNT_CACHE_SECONDS: int = env.int("UNREAD_COUNT_CACHE_SECONDS", default=30)
DEFAULT_BRANCH_CACHE_SECONDS: int = 3600

# Real-time stream (docs/realtime.md)
STREAM_POLL_SECONDS: float = env.float("STREAM_POLL_SECONDS", default=1.0)
STREAM_RESUME_MAX_EVENTS: int = env.int("STREAM_RESUME_MAX_EVENTS", default=1000)
EVENT_RETENTION_HOURS: int = env.int("EVENT_RETENTION_HOURS", default=72)
WS_MAX_FRAME_BYTES: int = env.int("WS_MAX_FRAME_BYTES", default=256 * 1024)
WS_AUTH_TIMEOUT_SECONDS: float = env.float("WS_AUTH_TIMEOUT_SECONDS", default=5.0)
WS_IDLE_TIMEOUT_SECONDS: float = env.float("WS_IDLE_TIMEOUT_SECONDS", default=60.0)
WS_COMMANDS_PER_10S: int = env.int("WS_COMMANDS_PER_10S", default=100)
TYPING_TIMEOUT_SECONDS: float = env.float("TYPING_TIMEOUT_SECONDS", default=8.0)
# Sneak peek (DESIGN §11): at most one visitor draft frame per this many seconds per sender.
TYPING_DRAFT_INTERVAL_SECONDS: float = env.float("TYPING_DRAFT_INTERVAL_SECONDS", default=0.5)
# Threads per process for the sockets' database work on PostgreSQL (chat/realtime/threads.py).
WS_DB_THREADS: int = env.int("WS_DB_THREADS", default=8)
# Frames queued for one socket before it is closed as too slow (it resumes on reconnect).
WS_SEND_QUEUE_MAX: int = env.int("WS_SEND_QUEUE_MAX", default=1000)
# Bytes given to one socket (or SSE / long-poll sink) and not yet taken by its client, counted
# as chat/realtime/outbound.py explains; past it the socket is closed with 4429 and resumes.
WS_SEND_BUFFER_MAX_BYTES: int = env.int("WS_SEND_BUFFER_MAX_BYTES", default=1024 * 1024)
# How long a too-slow socket may take to read what the server already holds before its 4429.
WS_SLOW_CLOSE_SECONDS: float = env.float("WS_SLOW_CLOSE_SECONDS", default=10.0)
# Open sockets per operator and per widget token, across processes (chat/realtime/limits.py).
WS_MAX_SOCKETS_PER_OPERATOR: int = env.int("WS_MAX_SOCKETS_PER_OPERATOR", default=20)
WS_MAX_SOCKETS_PER_VISITOR: int = env.int("WS_MAX_SOCKETS_PER_VISITOR", default=10)
# Widget fallbacks: SSE keep-alive and lifetime, long-poll wait, open streams per widget token.
SSE_KEEPALIVE_SECONDS: float = env.float("SSE_KEEPALIVE_SECONDS", default=5.0)
SSE_MAX_SECONDS: float = env.float("SSE_MAX_SECONDS", default=30.0)
LONGPOLL_WAIT_SECONDS: float = env.float("LONGPOLL_WAIT_SECONDS", default=25.0)
WIDGET_STREAMS_PER_TOKEN: int = env.int("WIDGET_STREAMS_PER_TOKEN", default=4)

# Presence and assignment (docs/assignment.md)
PRESENCE_HEARTBEAT_SECONDS: int = env.int("PRESENCE_HEARTBEAT_SECONDS", default=20)
PRESENCE_TTL_SECONDS: int = env.int("PRESENCE_TTL_SECONDS", default=60)
PRESENCE_GRACE_SECONDS: int = env.int("PRESENCE_GRACE_SECONDS", default=5)
ASSIGNMENT_RATE_LIMIT: int = env.int("ASSIGNMENT_RATE_LIMIT", default=10)
ASSIGNMENT_RATE_WINDOW_SECONDS: int = env.int("ASSIGNMENT_RATE_WINDOW_SECONDS", default=60)
# Embedded mode has no shared store for a separate worker process: the server runs the worker's
# ticks in a thread instead (not under pytest, whose tests call the ticks themselves).
RUN_IN_PROCESS_WORKER: bool = env.bool("RUN_IN_PROCESS_WORKER", default=EMBEDDED and "pytest" not in sys.modules)
ASSIGNMENT_RELEASE_DELAY_SECONDS: int = env.int("ASSIGNMENT_RELEASE_DELAY_SECONDS", default=300)
# Ring mode: after this long without an offer (everyone declined or let it ring out), a
# conversation's next round asks the same operators again (docs/assignment.md "Ring mode").
RING_ROUND_COOLDOWN_SECONDS: int = env.int("RING_ROUND_COOLDOWN_SECONDS", default=60)
# An operator who unassigns a conversation is not auto-assigned it again for this long (0: off).
ASSIGNMENT_RELEASE_COOLOFF_SECONDS: int = env.int("ASSIGNMENT_RELEASE_COOLOFF_SECONDS", default=600)

# Webhooks (docs/webhooks.md)
# Private, loopback, link-local, reserved and metadata destinations are refused unless true.
WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Retry k waits a uniform random time in [0, min(MAX, BASE * 2**(k-1))] ("full jitter").
WEBHOOK_RETRY_BASE_SECONDS: float = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS: float = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
WEBHOOK_MAX_ATTEMPTS: int = env.int("WEBHOOK_MAX_ATTEMPTS", default=9)
# Endpoints sent to at once by one worker tick, and the tick's time budget (seconds).
WEBHOOK_CONCURRENCY: int = env.int("WEBHOOK_CONCURRENCY", default=4)
WEBHOOK_TICK_BUDGET_SECONDS: float = env.float("WEBHOOK_TICK_BUDGET_SECONDS", default=4.0)
