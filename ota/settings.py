"""All settings in one module; environments differ only by environment variables.

Every production part has an embedded default that needs no server: SQLite under var/,
django-q2 on the ORM broker, bundles on the local disk. See docs/operations.md for the
variables and ota/checks.py for what is verified at start-up.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("OTA_VAR_DIR") or BASE_DIR / "var")

# The development key is deliberately recognisable: `check --deploy` flags it (security.W009).
DEV_SECRET_KEY = "django-insecure-ota-development-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "console",  # before the admin: its dashboard is the admin's landing page
    "console.apps.ConsoleAdminConfig",  # django.contrib.admin, with the console's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "ota",  # before django_q: its `qcluster` command stops in seconds (ota/task_cluster.py)
    "django_q",
    "accounts",
    "audit",
    "signing",
    "rollouts",
    "compliance",  # per-market type approval and evidence (UN R156)
    "federation",  # releases into an isolated market's own deployment, counts back
    "demo",  # the demo fleet `make run` seeds, and its commands
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ota.middleware.ApiErrorMiddleware",
    "ota.middleware.BadTextInUrlMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ota.urls"
WSGI_APPLICATION = "ota.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],  # each app keeps its own templates (they ship in the package)
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

# --- Database: SQLite file unless DATABASE_URL names PostgreSQL --------------------------------
DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'ota.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL") or DEFAULT_SQLITE_URL
try:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
            # A check costs a round trip on every request that reuses a connection; without
            # it, a connection the server dropped fails one request and is then replaced.
            conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", False),
        )
    }
except ValueError as exc:  # an unknown scheme or a mangled URL: say so before anything runs
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL we understand: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_SERVER_SIDE_BINDING", False
):
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
# The few statements of the poll path are prepared on PostgreSQL (planned once per
# connection). Turn off behind a pooler in transaction mode that cannot keep prepared
# statements (PgBouncer before 1.21, or without max_prepared_statements).
OTA_DB_PREPARE_HOT_STATEMENTS = env_bool("DATABASE_PREPARE_HOT_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares only what asks for it (ota/rawsql.py); nothing else ever reaches this
    # count. Django's default (None) would turn preparing off on the connection altogether.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "prepare_threshold", 2**31 - 1 if OTA_DB_PREPARE_HOT_STATEMENTS else None
    )
# An idle poll's one-row write (counter, latest manifest, last seen) commits without waiting
# for PostgreSQL's WAL flush: a crash of the database server may forget the last fraction of a
# second of them (never a decision, an assignment or a count), as SQLite's synchronous=NORMAL
# may forget its last commits on power loss. docs/operations.md says what that costs.
OTA_IDLE_POLL_ASYNC_COMMIT = env_bool("OTA_IDLE_POLL_ASYNC_COMMIT", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Write-ahead log: readers never wait for the writer, and a commit appends to the log
    # instead of rewriting the file; synchronous=NORMAL syncs at checkpoints (a power cut may
    # lose the last commits, never corrupt). Writers wait for each other instead of failing
    # with "database is locked"; a transaction takes the write lock at BEGIN, so the
    # services that read and then write keep their transactions short (an idle poll has
    # none: one UPDATE in autocommit).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Task queue: django-q2 on the ORM broker unless a Redis URL is given ------------------------
OTA_REDIS_URL = env_str("OTA_REDIS_URL")
# On SIGTERM a worker may finish the task in its hands for this long; then it is stopped and
# the broker hands the task out again (the ORM broker after `retry`).
OTA_Q_STOP_GRACE_SECONDS = env_int("OTA_Q_STOP_GRACE_SECONDS", 5)
Q_CLUSTER = {
    "name": "ota",
    "workers": env_int("OTA_Q_WORKERS", 2),
    "timeout": 300,
    "retry": 360,  # must exceed timeout, or a slow task runs twice
    "max_attempts": 5,
    "queue_limit": 50,
    "catch_up": False,
    "label": "Task queue",
}
# Tasks that take long (delta builds) go to a queue of their own, served by a cluster started
# with Q_CLUSTER_NAME=long (`serve` starts one): django-q2 stops a task at `timeout` and the
# ORM broker hands it out again at `retry`, so 300 s would kill and retry a build forever.
OTA_LONG_QUEUE = "long"
OTA_LONG_TASK_SECONDS = env_int("OTA_LONG_TASK_SECONDS", 3 * 3600)
Q_CLUSTER["ALT_CLUSTERS"] = {
    OTA_LONG_QUEUE: {
        "timeout": OTA_LONG_TASK_SECONDS,
        "retry": OTA_LONG_TASK_SECONDS + 600,
        "workers": env_int("OTA_Q_LONG_WORKERS", 1),
        "max_attempts": 2,
    }
}
if OTA_REDIS_URL:
    Q_CLUSTER["redis"] = OTA_REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Rate limits and the fleet's poll rate live in the cache: fleet-wide on Redis, per process
# on the embedded default.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": OTA_REDIS_URL}
        if OTA_REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Storage: local files unless configured otherwise -------------------------------------------
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "bundles": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "bundles"), "base_url": None},
    },
    # Signed evidence exports (compliance/): served to people with the right, never public.
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "evidence"), "base_url": None},
    },
}

# --- Auth --------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- HTTPS and cookies: on whenever DEBUG is off; a TLS-terminating proxy sets the header -------
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- APIs --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.UserTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["ota.api.HasRequiredPermissions"],
    "DEFAULT_PARSER_CLASSES": ["ota.api.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "ota.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "ota.schema.StrictAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OTA release and staged-rollout manager",
    "DESCRIPTION": (
        "Vehicle protocol v1 (`Authorization: Bearer <vehicle token>`) and the management API "
        "(`Authorization: Token <user token>` or a session). Every error has the body "
        '`{"error": {"code", "message", "detail"}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ota.schema.add_error_responses",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CohortKindEnum": "rollouts.models.cohorts.CohortKind",
        "RolloutStatusEnum": "rollouts.models.rollouts.RolloutStatus",
        "MarketEnum": "ota.serializers.configured_markets",  # regions and markets alike
    },
    "TAGS": [
        {"name": "vehicle", "description": "What a car calls, with its vehicle token."},
        {
            "name": "tuf",
            "description": "TUF metadata and bundles: the Director's per vehicle (token), "
            "the Image repository's public.",
        },
        {"name": "management", "description": "Release engineers and CI, with a user token."},
    ],
}

# --- Product settings --------------------------------------------------------------------------
# Markets a vehicle can belong to; each may get its own bundle bucket.
OTA_REGIONS = env_list("OTA_REGIONS", "US,EU,CN")
# Each market's time zone, for cars without one of their own: install windows are local time.
# OTA_MARKET_TIME_ZONES=US=America/Chicago,EU=Europe/Paris overrides some; others are UTC.
OTA_MARKET_TIME_ZONES = {
    "US": "America/New_York",
    "EU": "Europe/Berlin",
    "CN": "Asia/Shanghai",
    **dict(item.split("=", 1) for item in env_list("OTA_MARKET_TIME_ZONES", "")),
}
OTA_DEFAULT_CHANNEL = "stable"
# Markets where a release is offered only after a homologation engineer approved it there with
# its type-approval impact assessment (compliance/). "none" for no market.
OTA_TYPE_APPROVAL_MARKETS = [
    m for m in env_list("OTA_TYPE_APPROVAL_MARKETS", ",".join(OTA_REGIONS)) if m != "none"
]
# This deployment's name in what it exports; an isolated market's deployment (docs/
# isolated-markets.md) trusts the main one's `releases` export keys (PEM files).
OTA_DEPLOYMENT_NAME = env_str("OTA_DEPLOYMENT_NAME", "main")
OTA_RELEASE_IMPORT_KEYS = env_list("OTA_RELEASE_IMPORT_KEYS", "")
# Evidence records (every offer, outcome, deferral and revert per vehicle) are kept this long,
# whatever telemetry pruning does; UN R156 asks for the vehicle type's life: ten years and more.
OTA_EVIDENCE_RETENTION_DAYS = env_int("OTA_EVIDENCE_RETENTION_DAYS", 15 * 366)
# Largest JSON body any API view accepts unless the view sets its own `max_body_bytes`.
OTA_MAX_JSON_BODY_BYTES = env_int("OTA_MAX_JSON_BODY_BYTES", 256 * 1024)
OTA_BULK_PROVISION_MAX = 1000
# A vehicle's last-seen time is written at most this often, so polling is not a write per request.
OTA_LAST_SEEN_RESOLUTION_SECONDS = env_int("OTA_LAST_SEEN_RESOLUTION_SECONDS", 300)

# --- Signing and the TUF repositories ----------------------------------------------------------
# Encrypts online private keys at rest. The development value is refused by `check --deploy`.
DEV_KEY_PASSPHRASE = "ota-development-key-passphrase"  # noqa: S105
OTA_KEY_PASSPHRASE = env_str("OTA_KEY_PASSPHRASE") or DEV_KEY_PASSPHRASE
# Where online role keys (targets, snapshot, timestamp) live: "local" (encrypted PEM) or "kms".
OTA_ONLINE_KEY_BACKEND = env_str("OTA_ONLINE_KEY_BACKEND", "local")
OTA_KMS_REGION = env_str("OTA_KMS_REGION")
OTA_KMS_ENDPOINT_URL = env_str("OTA_KMS_ENDPOINT_URL")
# Lifetimes of signed metadata, in seconds.
OTA_TUF_EXPIRY_SECONDS = {
    "root": env_int("OTA_TUF_ROOT_EXPIRY_SECONDS", 365 * 86400),
    "targets": env_int("OTA_TUF_TARGETS_EXPIRY_SECONDS", 90 * 86400),
    "snapshot": env_int("OTA_TUF_SNAPSHOT_EXPIRY_SECONDS", 7 * 86400),
    "timestamp": env_int("OTA_TUF_TIMESTAMP_EXPIRY_SECONDS", 86400),
}
# Per-vehicle Director targets, snapshot and timestamp (Uptane: short-lived, at most a day).
OTA_DIRECTOR_EXPIRY_SECONDS = min(env_int("OTA_DIRECTOR_EXPIRY_SECONDS", 86400), 86400)
# Signed again at the first poll this close to expiry (at most half the life): what a car is
# served lives at least this long, more than a pending poll's interval and a clock's drift.
OTA_DIRECTOR_RESIGN_MARGIN_SECONDS = env_int("OTA_DIRECTOR_RESIGN_MARGIN_SECONDS", 900)
# Each web process serves the Image timestamp.json from memory for this long (0: from the
# database on every request); new Image metadata reaches cars this long plus a second after
# it is signed (signing/metadata_cache.py).
OTA_IMAGE_TIMESTAMP_LEASE_SECONDS = max(0, env_int("OTA_IMAGE_TIMESTAMP_LEASE_SECONDS", 1))
# Root and targets are signed by people; warn this long before they expire.
OTA_TUF_EXPIRY_WARNING_SECONDS = env_int("OTA_TUF_EXPIRY_WARNING_SECONDS", 21 * 86400)
# How the TUF download views recognise a vehicle (for its region); signing never imports rollouts.
OTA_VEHICLE_AUTHENTICATION = "rollouts.api.auth.VehicleTokenAuthentication"
OTA_TARGETS_REQUIRE_TOKEN = env_bool("OTA_TARGETS_REQUIRE_TOKEN", False)

# --- Bundles -----------------------------------------------------------------------------------
OTA_MAX_BUNDLE_BYTES = env_int("OTA_MAX_BUNDLE_BYTES", 8 * 1024**3)
FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every uploaded file streams to a temporary file
# "local" keeps bundles under var/bundles; "s3" uses one bucket per region (see docs/operations.md).
OTA_BUNDLE_STORAGE = env_str("OTA_BUNDLE_STORAGE", "local")
OTA_S3_BUCKETS = dict(item.split("=", 1) for item in env_list("OTA_S3_BUCKETS", ""))
OTA_S3_ENDPOINTS = dict(item.split("=", 1) for item in env_list("OTA_S3_ENDPOINTS", ""))
OTA_S3_REGION_NAMES = dict(item.split("=", 1) for item in env_list("OTA_S3_REGION_NAMES", ""))
OTA_S3_HOME_REGION = env_str("OTA_S3_HOME_REGION") or (OTA_REGIONS[0] if OTA_REGIONS else "")
OTA_S3_PRESIGN_SECONDS = env_int("OTA_S3_PRESIGN_SECONDS", 300)
if OTA_BUNDLE_STORAGE == "s3":
    from boto3.s3.transfer import TransferConfig

    # At most 4 parts of 8 MiB in flight: uploads stay flat in memory whatever the bundle size.
    _transfer = TransferConfig(multipart_chunksize=8 * 1024**2, max_concurrency=4)
    for _region, _bucket in OTA_S3_BUCKETS.items():
        STORAGES[f"bundles-{_region}"] = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": _bucket,
                "endpoint_url": OTA_S3_ENDPOINTS.get(_region),
                "region_name": OTA_S3_REGION_NAMES.get(_region),
                "querystring_expire": OTA_S3_PRESIGN_SECONDS,
                "signature_version": "s3v4",
                "addressing_style": env_str("OTA_S3_ADDRESSING_STYLE") or None,
                "file_overwrite": True,  # names are content hashes: same name, same bytes
                "default_acl": None,
                "transfer_config": _transfer,
            },
        }
    if OTA_S3_HOME_REGION in OTA_S3_BUCKETS:
        STORAGES["bundles"] = STORAGES[f"bundles-{OTA_S3_HOME_REGION}"]

# Markets whose bundles live on Azure Blob Storage, each in its own account and container:
# OTA_AZURE_MARKETS=EU,CN with OTA_AZURE_<MARKET>_CONNECTION_STRING (its account, key and
# endpoint: Azure's China cloud has its own suffix, EndpointSuffix=core.chinacloudapi.cn) and
# OTA_AZURE_<MARKET>_CONTAINER. Downloads redirect to a read-only SAS URL for the one blob,
# valid OTA_S3_PRESIGN_SECONDS (docs/operations.md, "Markets on S3 or Azure").
OTA_AZURE_MARKETS = env_list("OTA_AZURE_MARKETS", "")
for _market in OTA_AZURE_MARKETS:
    STORAGES[f"bundles-{_market}"] = {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {
            "connection_string": env_str(f"OTA_AZURE_{_market}_CONNECTION_STRING"),
            "azure_container": env_str(f"OTA_AZURE_{_market}_CONTAINER") or "bundles",
            "expiration_secs": OTA_S3_PRESIGN_SECONDS,
            "overwrite_files": True,  # names are content hashes: same name, same bytes
        },
    }

# --- Vehicle protocol -------------------------------------------------------------------------
# Seconds until the next poll (±20% jitter): sooner while an update is pending.
OTA_POLL_IDLE_SECONDS = env_int("OTA_POLL_IDLE_SECONDS", 3600)
OTA_POLL_PENDING_SECONDS = env_int("OTA_POLL_PENDING_SECONDS", 300)
# Manifests per minute the deployment takes comfortably; above it, poll_after grows in step.
OTA_POLL_CAPACITY_PER_MINUTE = env_int("OTA_POLL_CAPACITY_PER_MINUTE", 20_000)
OTA_POLL_MAX_SECONDS = env_int("OTA_POLL_MAX_SECONDS", 6 * 3600)
# Requests one vehicle may make to the vehicle API (DRF rate syntax); more get 429.
OTA_VEHICLE_RATE = env_str("OTA_VEHICLE_RATE") or "120/min"
# Tests run the decision an idle poll skips in full as well, and fail on any difference.
OTA_VERIFY_IDLE_POLLS = env_bool("OTA_VERIFY_IDLE_POLLS", False)
OTA_MAX_MANIFEST_BYTES = env_int("OTA_MAX_MANIFEST_BYTES", 64 * 1024)
OTA_MAX_TELEMETRY_BATCH = 500
# Rows each stage's counters are spread over (rollouts/models/counters.py): a car counts in the
# one its id picks, so concurrent offers and reports of a stage seldom wait on each other.
OTA_COUNTER_SLOTS = max(1, env_int("OTA_COUNTER_SLOTS", 64))
OTA_CONSENT_TERMS_VERSION = env_str("OTA_CONSENT_TERMS_VERSION", "2026-01")
# Who is emailed when a rollout halts, pauses, completes or waits at a manual gate.
OTA_NOTIFY_EMAILS = env_list("OTA_NOTIFY_EMAILS", "")
EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "ota@localhost")


# --- Staged rollouts --------------------------------------------------------------------------
def _plan(*stages):
    return [
        {"percent": p, "min_soak_minutes": soak, "gate": gate, "max_duration_minutes": longest}
        for p, soak, gate, longest in stages
    ]


# Stage plans a rollout gets unless it brings its own: cumulative percent of the channel's
# vehicles, minimum soak, gate (auto: the evaluator advances; manual: a person does), and how
# long a stage may stay inconclusive before it pauses and asks for a person.
OTA_DEFAULT_STAGE_PLANS = {
    "dev": _plan((100, 0, "auto", 1440)),
    "forever-beta": _plan((25, 60, "auto", 1440), (100, 240, "auto", 2880)),
    "beta": _plan((10, 240, "auto", 2880), (50, 480, "auto", 4320), (100, 720, "auto", 4320)),
    "stable": _plan(
        (1, 720, "auto", 4320),
        (5, 720, "auto", 4320),
        (20, 1440, "manual", 5760),
        (50, 1440, "auto", 5760),
        (100, 1440, "auto", 10080),
    ),
}
OTA_FALLBACK_STAGE_PLAN = _plan((10, 240, "auto", 2880), (100, 720, "auto", 4320))
# Promotion gate: vehicle-hours of health telemetry from updated vehicles a release needs on a
# channel before it may start on the next one (plus completion there without any halt).
OTA_PROMOTION_MIN_EXPOSURE_HOURS = {"dev": 0, "forever-beta": 100, "beta": 500}
# Deltas (docs/deltas.md): built when a release is approved, for each bundle, from the images
# the fleet runs most (this many per hardware id); a patch larger than this share of the full
# image is not worth a car's trouble and is dropped.
OTA_DELTA_SOURCES = env_int("OTA_DELTA_SOURCES", 3)
OTA_DELTA_MAX_SHARE = 0.8
# How often an open console page (dashboard, a rollout's charts) fetches fresh figures.
OTA_CONSOLE_REFRESH_SECONDS = max(1, env_int("OTA_CONSOLE_REFRESH_SECONDS", 30))
# A clock tests may move forward (ota/server_clock.py): the pytest plugin's test server only.
# `check --deploy` refuses it (ota.E006).
OTA_TEST_CLOCK = env_bool("OTA_TEST_CLOCK", False)
# The health policy a rollout gets unless it overrides some of it.
OTA_DEFAULT_POLICY = {
    "max_failure_rate": 0.02,  # failed / finished installs (Wilson 95% bounds)
    "min_finished": 50,
    "install_timeout_minutes": 240,
    "max_rate_ratio": 1.5,  # crashes (reboots, DTCs) per driving hour, updated / control
    "min_exposure_hours": 200,
    "confidence": 0.95,
    "critical_event_types": ["rollback_failed"],
    "critical_error_codes": [],
    "on_halt": "stop",  # stop | retract | revert
}

# --- Logging: plain lines on stderr; tokens and keys are never logged --------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("OTA_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
