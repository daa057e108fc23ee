"""Settings for every environment, read from the process environment (django-environ).

Development works with no environment at all; production refuses to start without a
SECRET_KEY and with DEBUG off turns every transport-security setting on (see .env.example).
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APPS_DIR = BASE_DIR / "koolivarav"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    # A fixed key is acceptable only on a developer's machine: DEBUG is off everywhere else.
    SECRET_KEY = env(
        "SECRET_KEY", default="django-insecure-development-only-key-koolivarav-0123456789"
    )
else:
    SECRET_KEY = env("SECRET_KEY")
# Earlier keys, while a new SECRET_KEY takes over (comma-separated): sessions, reset links and
# the administrators' recovery codes made under them keep working until they are removed.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    # Before our apps, so koolivarav.accounts.admin can take the TOTP devices out of the admin.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "koolivarav.accounts",
    "koolivarav.schools",
    "koolivarav.applications",
    "koolivarav.notifications",
    "koolivarav.operations",
    "koolivarav.identity",
    "config.apps.KoolivaravAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "import_export",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "csp",
    "health_check",  # its checks, and `manage.py health_check health_ready --no-http`
    "django_prometheus",
]

MIDDLEWARE = [
    # First: /health/live, /health/ready and /metrics are answered here, before the host
    # check, the HTTPS redirect, the school lookup and sessions (a load balancer probes a
    # backend by its own address); probes get no request id and no request log line.
    "koolivarav.operations.endpoints.OperationsEndpointsMiddleware",
    # Request counts and latencies (django-prometheus); its other half is before axes.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before TrustedProxyMiddleware (it reads the peer's address) and everything that logs:
    # the request's id, for every log line, the X-Request-ID header and the error pages.
    "koolivarav.operations.middleware.RequestIdMiddleware",
    "koolivarav.schools.middleware.TrustedProxyMiddleware",
    "koolivarav.schools.middleware.NulInQueryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "koolivarav.schools.middleware.CurrentSchoolMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, reading the user in the session's own query (koolivarav.accounts.sessions).
    "koolivarav.accounts.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp's, with the policy built once (config/csp.py).
    "config.csp.CSPMiddleware",
    "koolivarav.accounts.middleware.PasswordChangeRequiredMiddleware",
    "koolivarav.accounts.middleware.PrivatePagesMiddleware",
    # Counts by view and status; before axes, so a lock-out counts as the 429 it becomes.
    "koolivarav.operations.metrics.RequestMetricsMiddleware",
    # Last, as django-axes asks: it turns a lock-out into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
# Django's, writing plain <input> elements without the template engine (config/forms_renderer.py).
FORM_RENDERER = "config.forms_renderer.FormRenderer"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [APPS_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "koolivarav.schools.context_processors.school",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
# Nothing is written when settings are imported (the code directory may be read-only): the
# demo's SQLite file defaults to var/, which `make run` creates; production names its database.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so two writers wait for each other
    # (up to "timeout" seconds) instead of failing with "database is locked" half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, whose health check costs no query on a busy connection.
        DATABASES["default"]["ENGINE"] = "koolivarav.operations.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared by every server process: rate limits and lock-outs live here) -----------
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://koolivarav_cache")}
if CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
    # With Django's default of 300 entries the cache culls a third of its rows, rate-limit
    # counters among them, once a few hundred sessions and counters exist: many clients at
    # once would reset each other's limits. Expired rows go first; live ones only past this.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault(
        "MAX_ENTRIES", env.int("CACHE_MAX_ENTRIES", default=100_000)
    )

# --- Users and passwords ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out user name is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "koolivarav.accounts.backends.SchoolUserBackend",
]
PASSWORD_HASHERS = [
    "koolivarav.accounts.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    # All-digit passwords of this length are in every cracking dictionary (SECURITY.md §5.2).
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# E-mail addresses are unique per school, not per installation; SchoolUserBackend looks a
# user up within the request's school and copes with several matches.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60)
# Lock-out (django-axes, attempts kept in the database so every server process sees them):
# after 10 failures for one user name from one client address, 15 minutes' pause. Never a
# permanent lock, which would let a stranger lock a parent out (SECURITY.md §6.5).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "koolivarav.accounts.backends.lockout_username"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "koolivarav.accounts.views.locked_out"
AXES_HTTP_RESPONSE_CODE = 429
AXES_SENSITIVE_PARAMETERS = ["password", "username"]
AXES_VERBOSE = False
# Administrators confirm every login with a code from an authenticator app (TOTP); they
# enrol the app at their first login. Off only for a local demo (DEBUG=true), see below.
ADMIN_SECOND_FACTOR = env.bool("ADMIN_SECOND_FACTOR", default=True)
if not ADMIN_SECOND_FACTOR and not DEBUG:
    raise ImproperlyConfigured(
        "ADMIN_SECOND_FACTOR=false is for a local demo only (it needs DEBUG=true)."
    )
OTP_TOTP_ISSUER = "Koolivärav"
# Wrong codes pause further tries for 1, 2, 4, 8 … seconds (django-otp's throttling).
OTP_TOTP_THROTTLE_FACTOR = 1
LOGIN_URL = "home"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Language --------------------------------------------------------------------------------
LANGUAGE_CODE = "et"
LANGUAGES = [("et", _("Estonian")), ("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Tallinn"
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Our own date and time formats first ("29.11.2026 10:09"), then Django's (config/formats).
FORMAT_MODULE_PATH = ["config.formats"]

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
# Where collectstatic writes (and WhiteNoise serves from): outside the code in production.
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [APPS_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- E-mail ----------------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend"
    ),
)
EMAIL_HOST = env("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Django's default (None) lets a dead mail server hang a worker for ever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="robot@koolivarav.invalid")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Background tasks ------------------------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Called by run_worker before it starts (config wires the apps; notifications imports none):
# housekeeping is run by the workers once a day between them, the administrators' daily
# digests of waiting applications every hour on the hour.
WORKER_STARTUP_HOOKS = [
    "koolivarav.operations.tasks.start_housekeeping",
    "koolivarav.operations.tasks.start_digests",
]

# --- Retention and housekeeping (koolivarav.operations) ---------------------------------------
# `manage.py housekeeping` removes what is older than these; the worker runs it once a day, at
# HOUSEKEEPING_HOUR local time (and when it starts, if that day's run has not happened yet).
# Rejected applications: KOOLIVARAV["REJECTED_APPLICATION_RETENTION_DAYS"] below.
# django-axes' records of logins, failed logins and lock-out counters (names, addresses).
LOGIN_RECORD_RETENTION_DAYS = env.int("LOGIN_RECORD_RETENTION_DAYS", default=90)
# The worker's finished task results (their arguments and return values).
TASK_RESULT_RETENTION_DAYS = env.int("TASK_RESULT_RETENTION_DAYS", default=14)
# An e-mail's recipient and content once it was sent or given up on (the row itself stays).
EMAIL_CONTENT_RETENTION_DAYS = env.int("EMAIL_CONTENT_RETENTION_DAYS", default=90)
HOUSEKEEPING_HOUR = env.int("HOUSEKEEPING_HOUR", default=3)

# --- Student import --------------------------------------------------------------------------
IMPORT_EXPORT_SKIP_ADMIN_LOG = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = None
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
# Limits of an uploaded student list, checked before it is read (koolivarav.schools.spreadsheets):
# the file itself, what its XLSX parts unpack to (a 65 kB "zip bomb" can unpack to gigabytes),
# and its rows. The admin's upload only keeps the file; the worker reads and imports it, so a
# list of 100,000 rows (3 MB as CSV, 24 MB unpacked as XLSX) never meets a request timeout.
STUDENT_FILE_MAX_BYTES = env.int("STUDENT_FILE_MAX_BYTES", default=8 * 1024 * 1024)
STUDENT_FILE_MAX_UNPACKED_BYTES = env.int(
    "STUDENT_FILE_MAX_UNPACKED_BYTES", default=40 * 1024 * 1024
)
STUDENT_FILE_MAX_ROWS = env.int("STUDENT_FILE_MAX_ROWS", default=100_000)
# An upload larger than this waits on disk, not in a worker's memory, until it is refused;
# and no more of it than the limit is kept at all.
FILE_UPLOAD_MAX_MEMORY_SIZE = min(5 * 1024 * 1024, STUDENT_FILE_MAX_BYTES)
FILE_UPLOAD_HANDLERS = [
    "koolivarav.schools.spreadsheets.StudentFileUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Security --------------------------------------------------------------------------------
# Sessions are kept in the database and read in one query together with the logged-in user,
# the user's school and children (koolivarav.accounts.sessions): fresh on every request.
SESSION_ENGINE = "koolivarav.accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    # SECURE_COOKIES=false exists only for benchmarks over plain HTTP on one's own machine.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    if SESSION_COOKIE_SECURE:
        # The __Host- prefix makes the browser refuse these cookies unless they are Secure,
        # for this host only (no Domain) and for the whole site (ASVS 3.3.3).
        SESSION_COOKIE_NAME = "__Host-sessionid"
        CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("BEHIND_TLS_PROXY", default=False):
        # Only behind a proxy that always overwrites this header; otherwise a client could
        # claim HTTPS for itself.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The reverse proxies in front of the app servers (addresses or networks, e.g. 10.0.0.0/8):
# only their X-Forwarded-For is believed (see koolivarav.schools.middleware).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Logging ---------------------------------------------------------------------------------
# Plain text by default (make run, a terminal); LOG_FORMAT=json writes one JSON object a line
# for a log collector. Every line names the request's id ("-" outside a request) and has ID
# codes, e-mail addresses and reset tokens masked (koolivarav.operations.logging).
LOG_FORMAT = env("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")
# A new id for every request. LOG_REQUEST_ID_HEADER (e.g. HTTP_X_REQUEST_ID) takes the id a
# proxy sends instead, but only from one of TRUSTED_PROXIES and only in a safe shape.
LOG_REQUEST_ID_HEADER = env("LOG_REQUEST_ID_HEADER", default=None)
REQUEST_ID_RESPONSE_HEADER = "X-Request-ID"
NO_REQUEST_ID = "-"
# One line for each request (method, view, status): instead of an app server's access log,
# which writes paths (a reset link's token) and query strings.
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=False)
LOG_USER_ATTRIBUTE = None
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "log_request_id.filters.RequestIDFilter"}},
    "formatters": {
        "plain": {"()": "koolivarav.operations.logging.PlainFormatter"},
        "json": {"()": "koolivarav.operations.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Request bodies are never logged; a 4xx warning carries only the path.
        "django.request": {"level": "ERROR"},
    },
}

# --- Health and metrics (koolivarav.operations) ---------------------------------------------
# /health/ready fails once an e-mail has been due this long (a stopped or stuck worker);
# 0 leaves the outbox out of readiness.
HEALTH_MAX_EMAIL_DELAY_SECONDS = env.int("HEALTH_MAX_EMAIL_DELAY_SECONDS", default=600)
# /metrics answers only a request with "Authorization: Bearer <METRICS_TOKEN>"; with no token
# set it does not exist (404). Several gunicorn workers: set PROMETHEUS_MULTIPROC_DIR too.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be at least 32 characters (python -c "
        '"import secrets; print(secrets.token_urlsafe(32))").'
    )

# --- Error reports (optional) ----------------------------------------------------------------
# Sentry or a Sentry-compatible service (GlitchTip, …): off unless SENTRY_DSN is set. Reports
# carry no personal data (koolivarav.operations.sentry) and are tagged with the request's id.
SENTRY_DSN = env("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="production")
SENTRY_RELEASE = env("SENTRY_RELEASE", default="")
# Share of requests traced for performance; 0 sends errors only.
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    # Here rather than in an AppConfig: the SDK then sees every app's start-up as well.
    from koolivarav.operations.sentry import start_error_reports

    start_error_reports(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

# --- Verified identity: TARA and HarID (koolivarav.identity) -------------------------------
# Each provider is on when its client id is set. The issuer is where discovery starts
# (<issuer>/.well-known/openid-configuration): TARA's test service differs from production only
# here. Register https://<each school host>/identity/<provider>/callback/ with the provider
# (README, "Verified identity"). The client secret is sent by HTTP Basic and never logged.
IDENTITY_PROVIDERS: dict[str, dict[str, str]] = {}
for _provider, _issuer, _scope in (
    ("tara", "https://tara.ria.ee", "openid"),
    ("harid", "https://harid.ee", "openid profile personal_code"),
):
    _prefix = _provider.upper()
    if env(f"{_prefix}_CLIENT_ID", default=""):
        IDENTITY_PROVIDERS[_provider] = {
            "ISSUER": env(f"{_prefix}_ISSUER", default=_issuer).rstrip("/"),
            "CLIENT_ID": env(f"{_prefix}_CLIENT_ID"),
            "CLIENT_SECRET": env(f"{_prefix}_CLIENT_SECRET"),
            "SCOPE": env(f"{_prefix}_SCOPE", default=_scope),
        }
        if not DEBUG and not IDENTITY_PROVIDERS[_provider]["ISSUER"].startswith("https://"):
            # Also keeps the demo's stand-in provider (plain HTTP on 127.0.0.1) out of production.
            raise ImproperlyConfigured(f"{_prefix}_ISSUER must be an https:// address.")
# The log-in buttons post to /identity/<provider>/start/, which redirects to the provider's
# authorization page: browsers hold that redirect to the form's page's form-action too.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = [
    "'self'",
    *(config["ISSUER"] for config in IDENTITY_PROVIDERS.values()),
]
# TARA's ID tokens live 40 seconds: the clocks of TARA and of this server may differ this much.
IDENTITY_CLOCK_SKEW_SECONDS = env.int("IDENTITY_CLOCK_SKEW_SECONDS", default=10)
# A provider that does not answer in this time counts as down (the person is told at once).
IDENTITY_TIMEOUT_SECONDS = env.float("IDENTITY_TIMEOUT_SECONDS", default=5.0)
# The CA bundle the provider's certificate must chain to (TARA: DigiCert Global Root G2);
# empty: the system's bundle (certifi).
IDENTITY_CA_BUNDLE = env("IDENTITY_CA_BUNDLE", default="")

# --- Koolivärav --------------------------------------------------------------------------------
KOOLIVARAV = {
    # Upper bound on how many children one application may name (a family rarely has more;
    # every code is a question to the school's list of students).
    "MAX_CHILDREN_PER_APPLICATION": env.int("MAX_CHILDREN_PER_APPLICATION", default=6),
    "TEMPORARY_PASSWORD_DAYS": env.int("TEMPORARY_PASSWORD_DAYS", default=7),
    "REJECTED_APPLICATION_RETENTION_DAYS": env.int(
        "REJECTED_APPLICATION_RETENTION_DAYS", default=90
    ),
    # An application whose address nobody confirmed (the school holds those back) is purged
    # after this many days from its last receipt; the receipt's link works as long.
    "UNCONFIRMED_APPLICATION_DAYS": env.int("UNCONFIRMED_APPLICATION_DAYS", default=7),
    # (attempts, seconds): how often one client address or one e-mail address may act.
    "RATE_LIMITS": {
        "application_form_per_address": (
            env.int("APPLICATION_FORM_PER_ADDRESS_HOURLY", default=30),
            3600,
        ),
        "application_per_email": (env.int("APPLICATIONS_PER_EMAIL_HOURLY", default=5), 3600),
        # Log-ins through TARA or HarID started, and answers from them, per client address.
        "identity_start_per_address": (env.int("IDENTITY_PER_ADDRESS_HOURLY", default=60), 3600),
        # Distinct valid child codes that are not on the school's list: up to this many a day
        # step 1 names the code; after that it only says that some code is not on the list,
        # so that the form does not tell a stranger who attends the school.
        "unknown_child_codes_per_address": (
            env.int("UNKNOWN_CHILD_CODES_PER_ADDRESS_DAILY", default=5),
            24 * 3600,
        ),
        "unknown_child_codes_per_email": (
            env.int("UNKNOWN_CHILD_CODES_PER_EMAIL_DAILY", default=5),
            24 * 3600,
        ),
        # ... and past this many, step 1 checks no child's code at all for that client address
        # until the day is over (it says so, and to contact the school).
        "unknown_child_codes_stop_per_address": (
            env.int("UNKNOWN_CHILD_CODES_STOP_PER_ADDRESS_DAILY", default=20),
            24 * 3600,
        ),
        "password_reset_per_address": (
            env.int("PASSWORD_RESETS_PER_ADDRESS_HOURLY", default=20),
            3600,
        ),
        "password_reset_per_identifier": (
            env.int("PASSWORD_RESETS_PER_ACCOUNT_HOURLY", default=3),
            3600,
        ),
    },
    # Outbox: the first retry after this many seconds, doubling up to an hour between tries;
    # after EMAIL_MAX_ATTEMPTS tries (about a day and a half) the e-mail is marked failed.
    "EMAIL_RETRY_SECONDS": env.int("EMAIL_RETRY_SECONDS", default=30),
    "EMAIL_MAX_ATTEMPTS": env.int("EMAIL_MAX_ATTEMPTS", default=40),
    # A worker that died while sending: after this long another worker sends its e-mail.
    # Longer than any one SMTP hand-off can take (EMAIL_TIMEOUT), or e-mails go out twice.
    "EMAIL_LEASE_SECONDS": env.int("EMAIL_LEASE_SECONDS", default=300),
    # Step 1 of the application is kept in the session this long before step 2 must follow.
    "APPLICATION_STEP_SECONDS": env.int("APPLICATION_STEP_SECONDS", default=60 * 60),
}
