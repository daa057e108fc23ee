"""The OpenID Connect client for TARA and HarID: the authorization-code flow, and an ID token
checked completely before anybody is logged in or anything is filled in.

Authlib does the protocol: discovery, `state` and `nonce` kept in the browser's session (each
`state` used once: Authlib removes it on the first callback, whatever the outcome), the code
exchanged with the client secret by HTTP Basic, the token's RS256 signature checked against the
provider's keys by `kid` (fetched again when an unknown `kid` arrives), `iss`, `aud`, `exp`,
`iat` and `nonce`. What TARA's specification adds and Authlib cannot know is checked here: the
method (`amr`) is one the school accepts, the level (`acr`) is at least the school's, and `sub`
is an Estonian personal code.
"""

import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from joserfc.errors import JoseError as JoseRfcError
from stdnum.ee import ik

from koolivarav.schools.models import AssuranceLevel, IdentityMethod, School
from koolivarav.schools.text import normalize_name

logger = logging.getLogger(__name__)

LEVELS: list[str] = [AssuranceLevel.LOW, AssuranceLevel.SUBSTANTIAL, AssuranceLevel.HIGH]
PURPOSES = ("login", "apply", "admin")
FLOWS_KEY = "identity_flows"
# A person who opens the provider in several tabs: a few flows at once, the oldest dropped.
MAX_FLOWS = 5
# The provider's page waits for a Smart-ID or Mobile-ID confirmation; an hour is plenty.
FLOW_SECONDS = 60 * 60


@dataclass(frozen=True)
class VerifiedPerson:
    """Who the provider says the person is, after every check."""

    provider: str
    method: str  # IdentityMethod
    level: str  # AssuranceLevel, "" when the provider does not say (HarID)
    id_code: str
    first_name: str
    last_name: str
    verified_at: str  # ISO 8601, UTC

    @property
    def verified_moment(self) -> datetime:
        return datetime.fromisoformat(self.verified_at)

    def as_session(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_session(cls, data: Any) -> "VerifiedPerson | None":
        try:
            return cls(**data)
        except TypeError:
            return None


class IdentityError(Exception):
    """The provider did not confirm who the person is; `reason` says why, for the message."""

    CANCELLED = "cancelled"
    UNAVAILABLE = "unavailable"
    METHOD = "method"
    LEVEL = "level"
    NOT_ESTONIAN = "not_estonian"
    FAILED = "failed"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    @property
    def message(self) -> str:
        return {
            self.CANCELLED: _("You cancelled the log-in. Nothing was changed."),
            self.UNAVAILABLE: _(
                "The identity service did not answer. Please try again in a few minutes, "
                "or log in with your password."
            ),
            self.METHOD: _(
                "The school does not accept this way of proving your identity. Please choose "
                "another one (for example ID-card or Smart-ID)."
            ),
            self.LEVEL: _(
                "The school needs a stronger proof of identity than this one. Please use "
                "ID-card, Mobile-ID or Smart-ID."
            ),
            self.NOT_ESTONIAN: _(
                "Only an Estonian personal identification code can be used here. Please "
                "contact the school."
            ),
        }.get(
            self.reason,
            _("Your identity could not be confirmed. Nothing was changed; please try again."),
        )


def available(school: School, provider: str) -> bool:
    """Whether the installation has the provider and the school offers it."""
    return provider in school.offered_identity_providers()


_clients: dict[tuple[str, ...], DjangoOAuth2App] = {}


def _client(provider: str) -> DjangoOAuth2App:
    """One client per provider configuration, kept for the process: discovery and the keys
    are fetched once (the keys again when a token names a key not seen before)."""
    config = settings.IDENTITY_PROVIDERS[provider]
    key = (provider, config["ISSUER"], config["CLIENT_ID"], config["SCOPE"])
    client = _clients.get(key)
    if client is None:
        kwargs: dict[str, Any] = {
            "scope": config["SCOPE"],
            "token_endpoint_auth_method": "client_secret_basic",
            "default_timeout": settings.IDENTITY_TIMEOUT_SECONDS,
        }
        if settings.IDENTITY_CA_BUNDLE:
            kwargs["verify"] = settings.IDENTITY_CA_BUNDLE
        oauth = OAuth()
        client = oauth.register(
            name=provider,
            client_id=config["CLIENT_ID"],
            client_secret=config["CLIENT_SECRET"],
            server_metadata_url=f"{config['ISSUER']}/.well-known/openid-configuration",
            client_kwargs=kwargs,
        )
        _clients[key] = client
    return client


def start(
    request: HttpRequest, *, provider: str, school: School, purpose: str
) -> HttpResponseRedirect:
    """Send the person to the provider. Raises IdentityError when it cannot be reached."""
    client = _client(provider)
    state = secrets.token_urlsafe(24)
    language = getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE)
    params: dict[str, str] = {"state": state, "nonce": secrets.token_urlsafe(24)}
    if provider == "tara":
        params["ui_locales"] = language if language in ("et", "en", "ru") else "et"
        params["acr_values"] = school.tara_level
    redirect_uri = request.build_absolute_uri(reverse("identity:callback", args=[provider]))
    try:
        response = client.authorize_redirect(request, redirect_uri, **params)
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as error:
        logger.warning(
            "Identity provider %s: discovery failed (%s)", provider, type(error).__name__
        )
        raise IdentityError(IdentityError.UNAVAILABLE) from error
    flows = dict(request.session.get(FLOWS_KEY) or {})
    now = datetime.now(UTC).timestamp()
    flows = {
        k: v
        for k, v in flows.items()
        if isinstance(v, dict) and now - v.get("started", 0) < FLOW_SECONDS
    }
    flows[state] = {
        "provider": provider,
        "purpose": purpose,
        "school_id": school.pk,
        "started": now,
    }
    while len(flows) > MAX_FLOWS:
        flows.pop(min(flows, key=lambda k: flows[k]["started"]))
    request.session[FLOWS_KEY] = flows
    return response


def finish(request: HttpRequest, *, provider: str, school: School) -> tuple[VerifiedPerson, str]:
    """The provider's answer at the callback: the verified person and what the flow was for.

    Raises IdentityError for anything short of a fully checked ID token: an error or a
    cancellation at the provider, a state that this browser's session did not start (or that
    was used already), a provider that does not answer, and every failed check.
    """
    state = request.GET.get("state", "")
    flows = dict(request.session.get(FLOWS_KEY) or {})
    flow = flows.pop(state, None) if state else None
    request.session[FLOWS_KEY] = flows
    error = request.GET.get("error", "")
    if error:
        # The provider's own error (the person cancelled, or the request was refused). The
        # state is spent either way; Authlib's copy goes with it.
        _client(provider).framework.clear_state_data(request.session, state)
        logger.info("Identity provider %s answered with an error: %s", provider, error[:40])
        raise IdentityError(
            IdentityError.CANCELLED if error == "user_cancel" else IdentityError.FAILED
        )
    if (
        not isinstance(flow, dict)
        or flow.get("provider") != provider
        or flow.get("school_id") != school.pk
        or flow.get("purpose") not in PURPOSES
    ):
        if state:
            _client(provider).framework.clear_state_data(request.session, state)
        logger.warning("Identity provider %s: a callback with no flow of this browser", provider)
        raise IdentityError(IdentityError.FAILED, "state")
    config = settings.IDENTITY_PROVIDERS[provider]
    client = _client(provider)
    try:
        token = client.authorize_access_token(
            request,
            leeway=settings.IDENTITY_CLOCK_SKEW_SECONDS,
            # The issuer we were configured with, not only the one discovery announced.
            claims_options={"iss": {"essential": True, "values": [config["ISSUER"]]}},
        )
    except requests.RequestException as error:
        logger.warning("Identity provider %s: no answer (%s)", provider, type(error).__name__)
        raise IdentityError(IdentityError.UNAVAILABLE) from error  # type: ignore[misc]
    except (OAuthError, JoseRfcError, ValueError, KeyError, TypeError) as error:
        # The exception's class and code only: the token and its claims stay out of the log.
        logger.warning(
            "Identity provider %s: ID token refused (%s %s)",
            provider,
            type(error).__name__,
            getattr(error, "error", ""),
        )
        raise IdentityError(IdentityError.FAILED, type(error).__name__) from error
    claims = token.get("userinfo")
    if not claims:
        logger.warning("Identity provider %s: no ID token", provider)
        raise IdentityError(IdentityError.FAILED, "no id_token")
    person = (
        _tara_person(claims, school)
        if provider == "tara"
        else _harid_person(claims, provider=provider)
    )
    return person, flow["purpose"]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _tara_person(claims: dict[str, Any], school: School) -> VerifiedPerson:
    amr = claims.get("amr")
    methods = amr if isinstance(amr, list) else []
    accepted = set(school.tara_methods or [])
    method = next((m for m in methods if m in accepted), None)
    if method is None or method not in IdentityMethod.values:
        logger.warning("TARA: method not accepted by the school (%s)", methods[:3])
        raise IdentityError(IdentityError.METHOD)
    level = claims.get("acr")
    if level not in LEVELS or LEVELS.index(level) < LEVELS.index(school.tara_level):
        logger.warning("TARA: level %s below the school's %s", str(level)[:20], school.tara_level)
        raise IdentityError(IdentityError.LEVEL)
    id_code = _estonian_code(claims.get("sub"), prefix="EE")
    attributes = claims.get("profile_attributes")
    if not isinstance(attributes, dict):
        raise IdentityError(IdentityError.FAILED, "profile_attributes")
    return VerifiedPerson(
        provider="tara",
        method=method,
        level=level,
        id_code=id_code,
        first_name=_proper_case(attributes.get("given_name")),
        last_name=_proper_case(attributes.get("family_name")),
        verified_at=_now(),
    )


def _harid_person(claims: dict[str, Any], *, provider: str) -> VerifiedPerson:
    # HarID's personal code comes as "EE:EID:<code>" (or with the country prefix only).
    code = claims.get("personal_code")
    if isinstance(code, str) and code.startswith("EE:EID:"):
        code = code.removeprefix("EE:EID:")
    elif isinstance(code, str) and code.startswith("EE"):
        code = code.removeprefix("EE")
    id_code = _estonian_code(code, prefix="")
    return VerifiedPerson(
        provider=provider,
        method=IdentityMethod.HARID,
        level="",
        id_code=id_code,
        first_name=_proper_case(claims.get("given_name")),
        last_name=_proper_case(claims.get("family_name")),
        verified_at=_now(),
    )


def _estonian_code(value: Any, *, prefix: str) -> str:
    if not isinstance(value, str) or not value.startswith(prefix):
        raise IdentityError(IdentityError.NOT_ESTONIAN)
    code = value.removeprefix(prefix)
    if len(code) != 11 or not code.isdigit() or not ik.is_valid(code):
        raise IdentityError(IdentityError.NOT_ESTONIAN)
    return code


def _proper_case(value: Any) -> str:
    """TARA sends names in capitals ("MARI-LIIS TAMM"): "Mari-Liis Tamm"."""
    if not isinstance(value, str) or not value.strip():
        raise IdentityError(IdentityError.FAILED, "name")
    words = []
    for word in value.strip().split():
        words.append("-".join(part[:1].upper() + part[1:].lower() for part in word.split("-")))
    return normalize_name(" ".join(words))
