"""Settings for the enrichment platform.

Every value comes from the environment (django-environ), with defaults that make a bare
machine work for development: SQLite, an embedded Celery broker on SQLite and an in-process
channel layer. Setting ``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL and Redis.
The public variables are listed in the README; DESIGN.md treats their names as a contract.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# `make run` writes a `.env` next to manage.py once (development mode and generated keys); the
# process environment always wins over it. ENV_FILE names another file, or none when empty
# (the test settings read none, so no developer's `.env` changes what tests see).
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).exists():
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEVELOPMENT_SECRET_KEY = "dev-insecure-0c1f5e9a-do-not-use-in-production"  # noqa: S105


def _secret(name: str, default: str = "") -> str:
    """Read a secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


# Off unless asked for: a debug page shows settings and local variables (keys, passwords).
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = _secret("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "DEBUG=False with the development SECRET_KEY: set SECRET_KEY to a long random value "
        "(or run `make run` once, which writes a development .env)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Credentials at rest: comma-separated Fernet keys, the first encrypts, all decrypt, so a key
# can be rotated by prepending the new one and running `manage.py rotate_credentials`. Never
# derived from anything in the code, in any mode: whoever has the code could decrypt.
_field_keys = _secret("FIELD_ENCRYPTION_KEY", "")
if not _field_keys:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set: run `make run` once (it writes a development .env), "
        "or generate one with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
    )
FIELD_ENCRYPTION_KEYS = [k.strip() for k in _field_keys.split(",") if k.strip()]

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED = not REDIS_URL

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "channels",
    "providers",
    "budgets",
    "contacts",
    "enrichment",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# Web, worker, beat and the enrich command share an SQLite file: wait for locks instead of
# failing at once, and take the write lock when a transaction starts (no upgrade deadlocks).
_SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASE_URL:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Persistent connections with a health check: reuse without serving a dead socket.
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"].setdefault("OPTIONS", {}).update(_SQLITE_OPTIONS)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": dict(_SQLITE_OPTIONS),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    # One Redis database for the broker, results, channels and cache: the cache's clear()
    # deletes only its own "lf:" keys (config/cache.py), never queued jobs or anything else.
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "lf",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    # Shared by web, worker and beat processes through the file system.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    # One process serves web sockets in the embedded mode; workers report progress through
    # the database, which the web process relays.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "home"

if not DEBUG:
    # Production sits behind a TLS-terminating proxy that sets X-Forwarded-Proto (README).
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Health checks come from inside the deployment over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.api.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lead enrichment API",
    "DESCRIPTION": "Find and verify work emails, enrich leads through a provider waterfall, "
    "review and approve contacts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from the vendored sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ----------------------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    # kombu's SQLAlchemy transport on a SQLite file: a real broker with no server to run.
    CELERY_BROKER_URL = f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
    CELERY_RESULT_BACKEND = f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=CELERY_BROKER_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=14 * 60)
# Redis redelivers a task not acknowledged within the visibility timeout (tasks are acknowledged
# when they finish): the longest task (the hard limit) plus a margin, so a task whose worker was
# killed runs again within minutes rather than Celery's default hour, and none still running is
# sent twice. A delayed task is held unacknowledged until it is due, so countdowns are capped
# below it (CELERY_MAX_COUNTDOWN, see enrichment.tasks).
CELERY_VISIBILITY_TIMEOUT = CELERY_TASK_TIME_LIMIT + 2 * 60
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Only Redis reads it (kombu's SQLAlchemy transport hands its options to create_engine).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_MAX_COUNTDOWN = CELERY_TASK_TIME_LIMIT
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic tasks declared in code; django-celery-beat copies them into its database schedule
# when beat starts, where an admin can pause or re-time them.
CELERY_BEAT_SCHEDULE = {
    "expire-phone-reveals": {
        "task": "providers.expire_phone_reveals",
        "schedule": timedelta(hours=1),
    },
    # Reservations of workers that stopped mid-call; a run still queued when the next is due
    # is redundant.
    "release-expired-reservations": {
        "task": "budgets.release_expired_reservations",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    # Jobs whose workers stopped, and paused jobs whose budget has room again.
    "requeue-stalled-jobs": {
        "task": "enrichment.requeue_stalled_jobs",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 60},
    },
    "refresh-stale-contacts": {
        "task": "enrichment.refresh_stale_contacts",
        "schedule": timedelta(days=1),
    },
    "roll-budget-periods": {
        "task": "budgets.roll_periods",
        "schedule": timedelta(hours=1),
    },
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The queue tasks go to unless routed elsewhere (a deployment sharing a broker names its own).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")

# --- Enrichment ------------------------------------------------------------------------------
# Comma-separated host[:port] for the MX resolver; empty means the system's resolvers.
ENRICH_DNS_NAMESERVERS = env.list("ENRICH_DNS_NAMESERVERS", default=[])
# No network calls at all: no DNS, SMTP or provider HTTP.
ENRICH_OFFLINE = env.bool("ENRICH_OFFLINE", default=False)
# Off by default: user-supplied URLs resolving to private/loopback/link-local are refused.
ENRICH_ALLOW_PRIVATE_NETWORKS = env.bool("ENRICH_ALLOW_PRIVATE_NETWORKS", default=False)
ENRICH_SMTP_PROBE = env.bool("ENRICH_SMTP_PROBE", default=False)
# Per user, for API requests that probe over SMTP (DRF rate syntax: "30/hour", "5/minute").
ENRICH_SMTP_PROBE_RATE = env.str("ENRICH_SMTP_PROBE_RATE", default="30/hour")
ENRICH_SMTP_HELO = env.str("ENRICH_SMTP_HELO", default="localhost")
ENRICH_SMTP_FROM = env.str("ENRICH_SMTP_FROM", default="")
ENRICH_SMTP_PORT = env.int("ENRICH_SMTP_PORT", default=25)
PROVIDER_CACHE_TTL = timedelta(days=env.int("PROVIDER_CACHE_DAYS", default=30))
# Longest a provider call waits for its rate-limit instant or a concurrency slot.
PROVIDER_LIMIT_WAIT_SECONDS = env.float("PROVIDER_LIMIT_WAIT_SECONDS", default=30.0)
# How long a claimed job item is a worker's before another worker may take it over.
ENRICH_ITEM_LEASE_SECONDS = env.int("ENRICH_ITEM_LEASE_SECONDS", default=600)
# Signs jobs' completion webhooks (enrichment.webhooks); a job can name a webhook URL only
# when it is set. ENRICH_WEBHOOK_URL, when set, is the URL of jobs that do not name their own
# (scheduled and triggered jobs included).
ENRICH_WEBHOOK_SECRET = env.str("ENRICH_WEBHOOK_SECRET", default="")
ENRICH_WEBHOOK_URL = env.str("ENRICH_WEBHOOK_URL", default="")
# Scheduled re-enrichment (beat, daily): contacts last enriched this many days ago or more
# (0: never), at most ENRICH_REFRESH_BATCH per run, asking for ENRICH_AUTO_FIELDS from
# ENRICH_AUTO_PROVIDERS (empty: the email finder only). ENRICH_ON_CONTACT_CREATE starts the
# same enrichment for a contact created outside a job (the admin, the API).
ENRICH_REFRESH_AFTER_DAYS = env.int("ENRICH_REFRESH_AFTER_DAYS", default=90)
ENRICH_REFRESH_BATCH = env.int("ENRICH_REFRESH_BATCH", default=500)
ENRICH_AUTO_FIELDS = env.list("ENRICH_AUTO_FIELDS", default=["email"])
ENRICH_AUTO_PROVIDERS = env.list("ENRICH_AUTO_PROVIDERS", default=[])
ENRICH_ON_CONTACT_CREATE = env.bool("ENRICH_ON_CONTACT_CREATE", default=False)

# --- Logging: one JSON object per line, secrets redacted --------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "config.logging.RedactSecretsFilter"}},
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}

VAR_DIR.mkdir(exist_ok=True)
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves from the finders; it wants the root to exist
