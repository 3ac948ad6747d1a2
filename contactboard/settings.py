"""Django settings: embedded defaults, every deployment choice from the environment.

Embedded default (nothing set): SQLite file, in-process channel layer, local-memory
cache, bridge inside the web process. Scale-out: set ``DATABASE_URL`` (PostgreSQL) and
``REDIS_URL`` (channels_redis layer, Redis cache, Redis bridge lease).
See README.md for every variable.
"""

import datetime as dt
import warnings
from pathlib import Path

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Development only: a fixed, obviously non-secret key.
    SECRET_KEY = "insecure-development-key-do-not-use-in-production-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",  # login throttling (docs/security.md)
    "statsbridge",
    "dashboard",
    "alerts",
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
    # Content-Security-Policy (a nonce per response for the few inline module scripts) and
    # Permissions-Policy on every response (docs/security.md).
    "csp.middleware.CSPMiddleware",
    "dashboard.security.PermissionsPolicyMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "contactboard.urls"

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
                "csp.context_processors.nonce",  # {{ CSP_NONCE }} for inline scripts
            ],
        },
    },
]

WSGI_APPLICATION = None
ASGI_APPLICATION = "contactboard.asgi.application"
# What the bridge subscribes and which dashboards show each statistic: the bridge reads
# it through this callable (statsbridge.wanted.load_routes), never the dashboards' models.
BRIDGE_ROUTES_SOURCE = "dashboard.wanted.bridge_routes"
# Classes the active bridge runs on what it publishes (statsbridge.observers); alerts: docs/alerts.md.
BRIDGE_OBSERVERS = ["alerts.engine.AlertEngine"]
# Where links in alert notifications point (the acknowledge page).
ALERTS_BASE_URL = env_str("ALERTS_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The bridge writes history while pages read: WAL keeps readers and the
    # writer from blocking each other.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# redis-py caps a pool at 100 connections by default; several web processes and
# many WebSocket clients need more.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 500)

# Messages a channel may hold before it is full, and how long they live unread.
CHANNEL_LAYER_LIMITS = {"capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000), "expiry": 30}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "statsbridge.redis_layer.AckingRedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times sockets out after 5 s, exactly channels_redis's
                # blocking-receive time (BZPOPMIN 5 s): an idle consumer's receive would
                # then fail. Give receives room, yet still notice a dead server.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": REDIS_MAX_CONNECTIONS,
                        "socket_timeout": env_float("REDIS_SOCKET_TIMEOUT", 15.0),
                    }
                ],
                **CHANNEL_LAYER_LIMITS,
                # Deployments (or test runs) sharing one Redis keep their groups apart.
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "asgi"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "ccdash"),
            "OPTIONS": {"max_connections": REDIS_MAX_CONNECTIONS, "socket_timeout": 5.0},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "statsbridge.memory_layer.SweepingInMemoryChannelLayer",
            "CONFIG": CHANNEL_LAYER_LIMITS,
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            # The latest value of every statistic lives here: Django's default of 300
            # entries would silently evict most of a large tenant's values.
            "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 1_000_000)},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
# Who grants access, named on "not allowed" pages (e.g. "the floor manager, ext. 2040"); empty: "your administrator".
ADMIN_CONTACT = env_str("ADMIN_CONTACT", "")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Files are served straight from static/ and the apps (finders), so `collectstatic` is
# optional; WhiteNoise would otherwise warn on every start that STATIC_ROOT is missing.
WHITENOISE_USE_FINDERS = True
if not STATIC_ROOT.is_dir():
    warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)

# Behind a TLS-terminating proxy (SECURE_SSL=true): secure cookies, HSTS, redirect.
SECURE_SSL = env_bool("SECURE_SSL", False)
if SECURE_SSL:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a one-way commitment for the whole domain, so it is opt-in
        # (SECURE_HSTS_PRELOAD=true), not a deploy-check warning.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# -- security hardening (issue 15; docs/security.md) --
# Largest request body `manage.py serve` accepts, refused with 413 before it is read
# (statsbridge.bodies); the dashboard import page allows staff a larger one.
REQUEST_BODY_LIMITS = {
    "DEFAULT": env_int("REQUEST_BODY_MAX_BYTES", 4 * 1024 * 1024),
    "IMPORT": env_int("IMPORT_BODY_MAX_BYTES", 32 * 1024 * 1024),
}
# Which page gets the larger limit, and for whom: the served daphne asks this callable.
REQUEST_BODY_LIMITS_SOURCE = "dashboard.uploads.body_limits"
# Login throttling (django-axes) on every login form, the desk's and the admin's: after
# LOGIN_FAILURE_LIMIT wrong passwords for one user name from one address, that pair is
# refused for LOGIN_COOLOFF_MINUTES (the lockout page says so; each failure is logged).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_float("LOGIN_COOLOFF_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every start (commands print their own first line)
AXES_LOCKOUT_CALLABLE = "dashboard.security.locked_out"
# Wall-token guessing: an address refused WALL_TOKEN_MAX_REFUSALS times within
# WALL_TOKEN_REFUSAL_WINDOW_SECONDS gets 429 for every wall link until the window ends.
WALL_TOKEN_REFUSALS = {
    "LIMIT": env_int("WALL_TOKEN_MAX_REFUSALS", 10),
    "WINDOW_SECONDS": env_int("WALL_TOKEN_REFUSAL_WINDOW_SECONDS", 600),
}
# /metrics answers a Prometheus scraper sending "Authorization: Bearer $METRICS_TOKEN"
# (and staff allowed to view statistics); /readyz gives them its details, others ready
# or not only. Unset: no scraper gets in.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Mail (password reset): the reset pages exist only when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost")
# Content-Security-Policy (django-csp): scripts only from this site or inline with the
# response's nonce; styles inline too (Plotly styles its charts from JavaScript, tiles
# carry their colours in style attributes); no plugins, frames, foreign forms or bases.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp_constants.NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Features no page here uses are off; the wall may go full screen.
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=(), fullscreen=(self)")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# -- end security hardening --

# The upstream Genesys tenant (or the bundled simulator). Secrets live only here and
# in the environment; nothing logs or renders them.
GENESYS = {
    "API_URL": env_str("GENESYS_API_URL", "http://127.0.0.1:8090").rstrip("/"),
    "API_KEY": env_str("GENESYS_API_KEY", "demo-api-key"),
    "CLIENT_ID": env_str("GENESYS_CLIENT_ID", "demo-client"),
    "CLIENT_SECRET": env_str("GENESYS_CLIENT_SECRET", "demo-secret"),
    "USERNAME": env_str("GENESYS_USERNAME", ""),
    "PASSWORD": env_str("GENESYS_PASSWORD", ""),
}
# The simulator's control key: the editor's catalogue is read from GET /simulator/catalog
# at GENESYS_API_URL when the upstream is the simulator (dashboard.catalogue).
SIMULATOR_CONTROL_KEY = env_str("SIMULATOR_CONTROL_KEY", "demo-control-key")

# Sign in with Genesys (the reference's Authorization Code grant), beside local accounts;
# off unless GENESYS_SSO=true. See README.md and docs/upstream.md.
GENESYS_SSO = {
    "ENABLED": env_bool("GENESYS_SSO", False),
    # Where browsers sign in (…/auth/v3/oauth/authorize); empty: GENESYS_API_URL.
    "AUTH_URL": env_str("GENESYS_SSO_AUTH_URL", "").rstrip("/"),
    "CLIENT_ID": env_str("GENESYS_SSO_CLIENT_ID", GENESYS["CLIENT_ID"]),
    "CLIENT_SECRET": env_str("GENESYS_SSO_CLIENT_SECRET", GENESYS["CLIENT_SECRET"]),
    # The exact redirect URI registered with the tenant (https://board.example.com/accounts/genesys/callback/);
    # empty: this site's callback URL as the browser reached it (fine for the demo, set it in production).
    "REDIRECT_URI": env_str("GENESYS_SSO_REDIRECT_URI", ""),
    # Logging out here also ends the sign-in's token at the tenant (/sign-out).
    "SIGN_OUT": env_bool("GENESYS_SSO_SIGN_OUT", True),
    "TIMEOUT_SECONDS": env_float("GENESYS_SSO_TIMEOUT_SECONDS", 10.0),
    # How long a started sign-in may take before its state is no longer accepted.
    "FLOW_SECONDS": env_int("GENESYS_SSO_FLOW_SECONDS", 600),
}

# The bridge (see statsbridge/).
# Only the bridge settings the environment sets: their defaults (and what each means) are
# stated once, in statsbridge.conf.BridgeSettings. BRIDGE_EMBEDDED=false when a separate
# `manage.py runbridge` process runs the bridge.
BRIDGE = {
    key: read(variable, None)
    for key, variable, read in [
        ("EMBEDDED", "BRIDGE_EMBEDDED", env_bool),
        ("FRAME_FLOOR_SECONDS", "BRIDGE_FRAME_FLOOR_SECONDS", env_float),
        ("FRAME_CPU_BUDGET", "BRIDGE_FRAME_CPU_BUDGET", env_float),
        ("ACKED_ROUND_TIMEOUT_SECONDS", "BRIDGE_ACKED_ROUND_TIMEOUT_SECONDS", env_float),
        ("SUBSCRIPTION_BATCH_SIZE", "BRIDGE_SUBSCRIPTION_BATCH_SIZE", env_int),
        ("SUBSCRIPTION_CREATE_WINDOW", "BRIDGE_SUBSCRIPTION_CREATE_WINDOW", env_int),
        ("HISTORY_RETENTION_HOURS", "HISTORY_RETENTION_HOURS", env_float),
        ("LEASE_SECONDS", "BRIDGE_LEASE_SECONDS", env_float),
        ("POLL_SECONDS", "BRIDGE_POLL_SECONDS", env_float),
        ("POLL_AFTER_FAILED_CONNECTS", "BRIDGE_POLL_AFTER_FAILED_CONNECTS", env_int),
        ("POLL_AFTER_SECONDS", "BRIDGE_POLL_AFTER_SECONDS", env_float),
    ]
    if env_str(variable).strip()
}

# Walls reload themselves (after their first minute) once their JS heap passes this: a TV
# browser left open for weeks must not slow down or crash.
WALL_MEMORY_LIMIT_MB = env_int("WALL_MEMORY_LIMIT_MB", 400)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {
        "quiet_probe_errors": {"()": "dashboard.logfilters.QuietProbeErrors"},
        "redact_wall_tokens": {"()": "dashboard.logfilters.RedactWallTokens"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["redact_wall_tokens"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO"},
        # Loggers that write request paths redact wall tokens at the source, so no
        # handler (a test's, a log shipper's) ever sees them.
        "django.request": {"level": "INFO", "filters": ["quiet_probe_errors", "redact_wall_tokens"]},
        "django.security": {"filters": ["redact_wall_tokens"]},
        "django.channels.server": {"filters": ["redact_wall_tokens"]},
        "daphne": {"level": "WARNING", "filters": ["redact_wall_tokens"]},
        "aiohttp.access": {"level": "WARNING"},
    },
}
