import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def _production_env(**extra: str) -> dict[str, str]:
    # Start from a clean slate: the test settings put their own values into os.environ.
    own = ("DJANGO_", "DEBUG", "SECRET", "SECURE_", "CACHE_URL", "ALLOWED_HOSTS", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="jpk.ope.ee",
        **extra,
    )
    return env


def test_production_settings_pass_the_deployment_checklist():
    result = subprocess.run(
        [sys.executable, str(MANAGE), "check", "--deploy", "--fail-level", "WARNING"],
        env=_production_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, str(MANAGE), "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_argon2_is_the_production_hasher():
    assert settings.PASSWORD_HASHERS  # the test settings swap it for speed; production's:
    from config.settings import base

    assert base.PASSWORD_HASHERS[0] == "koolivarav.accounts.hashers.Argon2idHasher"


def test_the_production_hasher_makes_argon2id_hashes_that_django_can_upgrade():
    from django.contrib.auth.hashers import Argon2PasswordHasher

    from koolivarav.accounts.hashers import Argon2idHasher

    encoded = Argon2idHasher().encode("Kolm rõõmsat kassipoega", Argon2idHasher().salt())
    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert Argon2idHasher().verify("Kolm rõõmsat kassipoega", encoded)
    older = Argon2PasswordHasher().encode("x" * 12, Argon2PasswordHasher().salt())
    assert Argon2idHasher().verify("x" * 12, older)
    assert Argon2idHasher().must_update(older)
    assert Argon2idHasher.algorithm == Argon2PasswordHasher.algorithm


def test_the_default_database_cache_does_not_cull_rate_limit_counters_early():
    # Django's default of 300 entries: a few hundred sessions would cull counters with them.
    script = (
        "import django; django.setup(); from django.core.cache import cache; "
        'from django.core.cache import caches; c = caches["default"]; '
        "print(type(c).__name__, c._max_entries)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_production_env(),
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["DatabaseCache", "100000"]


def _settings_with(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    script = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )


def test_tara_is_configured_from_the_environment_and_allowed_as_a_form_target():
    env = _production_env(
        TARA_ISSUER="https://tara-test.ria.ee/",
        TARA_CLIENT_ID="koolivarav-test",
        TARA_CLIENT_SECRET="from-ria",
    )
    result = _settings_with(
        env,
        "settings.IDENTITY_PROVIDERS['tara']['ISSUER'], "
        "settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action']",
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip() == "https://tara-test.ria.ee [\"'self'\", 'https://tara-test.ria.ee']"
    )


def test_without_a_client_id_there_is_no_provider():
    result = _settings_with(_production_env(), "settings.IDENTITY_PROVIDERS")
    assert result.stdout.strip() == "{}"


def test_production_refuses_a_plain_http_identity_provider():
    """The demo's stand-in (http://127.0.0.1) can never be production's TARA."""
    env = _production_env(
        TARA_ISSUER="http://127.0.0.1:8001", TARA_CLIENT_ID="demo-tara", TARA_CLIENT_SECRET="x"
    )
    result = _settings_with(env, "1")
    assert result.returncode != 0
    assert "TARA_ISSUER must be an https:// address" in result.stderr
    env["DEBUG"] = "true"
    assert _settings_with(env, "1").returncode == 0


def test_the_stand_in_provider_refuses_to_run_in_production():
    env = _production_env()
    result = subprocess.run(
        [sys.executable, str(MANAGE), "run_identity_standin", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DEBUG" in result.stderr
