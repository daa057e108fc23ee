"""A stand-in for TARA's and HarID's OpenID Connect providers, served on 127.0.0.1.

The tests and the demo (`make run`) log in through it instead of the real services: it speaks
the authorization-code flow as TARA's technical specification describes it (discovery, JWKS, a
page to choose a person, a code that lives 30 s and is accepted once, an RS256 ID token of 40 s
with a `kid`), over real HTTP, so the client library makes the same calls it makes in production.
Plain attributes (the "knobs") make it misbehave the ways a real provider or an attacker can.

Anyone can log in as anyone here: it must never serve a production site.
"""

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from stdnum.ee import ik

Flavour = Literal["tara", "harid"]

TARA_SCOPES = ["openid", "idcard", "mid", "smartid", "eidas", "email", "phone"]
# TARA's method scopes and the `amr` value each method puts in the ID token.
METHOD_SCOPES = {"idcard": "idcard", "mid": "mID", "smartid": "smartid", "eidas": "eIDAS"}
ACR_LEVELS = ("low", "substantial", "high")
# A namespace for HarID's opaque subject identifiers: the same person gets the same `sub` in
# every run, as with the real service, so demo accounts linked to it survive a restart.
HARID_SUBJECTS = uuid.UUID("6f1d4a52-4c1e-4b8e-9a55-3a0f2e7c9d10")


@dataclass(frozen=True)
class Person:
    id_code: str  # Estonian personal code, 11 digits
    given_name: str  # as TARA sends it: in capitals
    family_name: str

    @property
    def proper_name(self) -> tuple[str, str]:
        return self.given_name.title(), self.family_name.title()


@dataclass(frozen=True)
class _Grant:
    """What an authorization code stands for until the client exchanges it."""

    person: Person
    method: str | None
    params: dict[str, str]
    issued_at: float = field(default_factory=time.monotonic)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    """An authorization request that cannot be answered by a redirect (TARA shows a page)."""


class StandInProvider:
    """TARA (or HarID) on 127.0.0.1: `start()` serves it in a daemon thread, `issuer` says where.

    Knobs, plain attributes read when a request arrives or a token is issued:
    - `claims_override`: merged into every ID token's claims from then on; None removes a claim;
    - `sign_with`: "stranger" signs with a key the JWKS lacks under the current `kid` (a bad
      signature), "unknown_kid" under a `kid` the JWKS never had;
    - `token_delay_seconds`: the token endpoint hangs that long first;
    - `code_lifetime_seconds`: 30 as TARA's; a test sets 0 rather than wait;
    - `auto_choice` (id_code, amr) and `auto_cancel`: the authorization endpoint answers at once,
      without the page, as that person with that method, or as a cancel;
    - `rotate_keys()`; `requests_seen` counts the requests to each endpoint by name.
    """

    def __init__(
        self,
        *,
        flavour: Flavour = "tara",
        client_id: str,
        client_secret: str,
        people: Sequence[Person],
        host: str = "127.0.0.1",
        port: int = 0,
        demo: bool = False,
    ) -> None:
        self.flavour = flavour
        self.client_id = client_id
        self.client_secret = client_secret
        self.people = {person.id_code: person for person in people}
        self.host = host
        self.port = port
        self.demo = demo  # logs each request on stderr
        self.issuer = ""
        # Knobs, read when a request arrives or a token is issued.
        self.claims_override: dict[str, Any] = {}
        self.sign_with: Literal["current", "stranger", "unknown_kid"] = "current"
        self.token_delay_seconds: float = 0
        self.code_lifetime_seconds: float = 30
        self.auto_choice: tuple[str, str] | None = None
        self.auto_cancel = False
        self.requests_seen: Counter[str] = Counter()
        self._keys = [_signing_key()]
        self._stranger: RSAKey | None = None
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return "TARA" if self.flavour == "tara" else "HarID"

    def start(self) -> "StandInProvider":
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_port
        self.issuer = f"http://{self.host}:{self.port}"
        # A short poll: stop() waits for the loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"standin-{self.flavour}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "StandInProvider":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def rotate_keys(self) -> None:
        """Sign new tokens with a new key; the JWKS keeps the old one too, as TARA's does."""
        with self._lock:
            self._keys.append(_signing_key())

    # The endpoints. Each takes the request's parameters and returns the whole response.

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Response:
        """Answer one request; `headers` have lower-case names."""
        url = urlsplit(path)
        endpoint = {
            "/.well-known/openid-configuration": "discovery",
            "/oidc/jwks": "jwks",
            "/oidc/authorize": "authorize",
            "/oidc/token": "token",
            "/oidc/profile": "userinfo",
        }.get(url.path)
        if endpoint is None:
            return _Response(404, b"Not found")
        with self._lock:
            self.requests_seen[endpoint] += 1
        try:
            params = _single_values(url.query if method == "GET" else body.decode())
        except (UnicodeDecodeError, _BadRequest) as error:
            if endpoint == "authorize":
                return self._page(400, _error_body(str(error)), language="et")
            return _json(400, {"error": "invalid_request"})
        if (endpoint, method) == ("discovery", "GET"):
            return _json(200, self._discovery())
        if (endpoint, method) == ("jwks", "GET"):
            return _json(200, KeySet(list(self._keys)).as_dict(private=False))
        if endpoint == "authorize" and method in ("GET", "POST"):
            try:
                return self._authorize(method, params)
            except _BadRequest as error:
                return self._page(400, _error_body(str(error)), language="et")
        if (endpoint, method) == ("token", "POST"):
            return self._token(headers.get("authorization", ""), params)
        if endpoint == "userinfo":
            # RIA advises reading the ID token; the client has no reason to come here.
            return _json(
                501, {"error": "not_implemented", "error_description": "Read the ID token"}
            )
        return _Response(405, b"Method not allowed")

    def _discovery(self) -> dict[str, Any]:
        if self.flavour == "tara":
            scopes = TARA_SCOPES
            claims = ["sub", "profile_attributes", "amr", "acr", "nonce", "state", "at_hash"]
            claims += ["email", "email_verified", "phone_number", "phone_number_verified"]
        else:
            scopes = ["openid", "profile", "email", "personal_code"]
            claims = ["sub", "given_name", "family_name", "personal_code", "nonce", "at_hash"]
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oidc/authorize",
            "token_endpoint": f"{self.issuer}/oidc/token",
            "userinfo_endpoint": f"{self.issuer}/oidc/profile",
            "jwks_uri": f"{self.issuer}/oidc/jwks",
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "claims_supported": claims,
            "ui_locales_supported": ["et", "en", "ru"],
        }

    def _authorize(self, method: str, params: dict[str, str]) -> _Response:
        self._check_authorization_request(params)
        scopes = params["scope"].split()
        if self.flavour == "tara":
            unknown = [s for s in scopes if s not in TARA_SCOPES and not _eidas_scope(s)]
            if unknown:
                # As TARA: the client and its redirect URI are known, so the error goes back.
                return _redirect(params, error="invalid_scope", error_description="Unknown scope")
        methods = self._methods_offered(scopes)
        if method == "GET" and self.auto_cancel:
            return _redirect(params, error="user_cancel", error_description="User canceled")
        if method == "GET" and self.auto_choice:
            # The method is not checked against the scopes: a test may want an `amr` the
            # client did not ask for, as a tampered request would bring.
            id_code, chosen = self.auto_choice
            if id_code not in self.people:
                raise _BadRequest(f"auto_choice names {id_code}, who is not among the people")
            return self._grant(params, self.people[id_code], chosen if methods else None)
        if method == "GET":
            return self._page(200, self._choice_body(params, methods), _language(params))
        if params.get("action") == "cancel":
            return _redirect(params, error="user_cancel", error_description="User canceled")
        person = self.people.get(params.get("person", ""))
        amr = params.get("method")
        if person is None or (methods and amr not in methods):
            raise _BadRequest("Choose a person and a method from the page.")
        return self._grant(params, person, amr)

    def _check_authorization_request(self, params: dict[str, str]) -> None:
        # TARA shows an error page rather than redirect when it cannot trust the redirect URI.
        redirect = urlsplit(params.get("redirect_uri", ""))
        if redirect.scheme not in ("http", "https") or not redirect.netloc or redirect.fragment:
            raise _BadRequest("redirect_uri must be an absolute http(s) URL without a fragment.")
        if params.get("client_id") != self.client_id:
            raise _BadRequest("Unknown client_id.")
        if params.get("response_type") != "code":
            raise _BadRequest("response_type must be code.")
        if "openid" not in params.get("scope", "").split():
            raise _BadRequest("scope must include openid.")
        if len(params.get("state", "")) < 8:
            raise _BadRequest("state must be at least 8 characters.")
        if params.get("acr_values", "substantial") not in ACR_LEVELS:
            raise _BadRequest("acr_values must be low, substantial or high.")

    def _methods_offered(self, scopes: list[str]) -> list[str]:
        """The `amr` values the person may choose from; none for HarID, which has no choice."""
        if self.flavour == "harid":
            return []
        if "eidasonly" in scopes:
            return ["eIDAS"]
        asked = [amr for scope, amr in METHOD_SCOPES.items() if scope in scopes]
        return asked or ["idcard", "mID", "smartid"]

    def _grant(self, params: dict[str, str], person: Person, method: str | None) -> _Response:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(person=person, method=method, params=dict(params))
        return _redirect(params, code=code)

    def _token(self, authorization: str, params: dict[str, str]) -> _Response:
        if self.token_delay_seconds:
            time.sleep(self.token_delay_seconds)
        if not self._client_authenticated(authorization):
            response = _json(401, {"error": "invalid_client"})
            response.headers["WWW-Authenticate"] = 'Basic realm="standin"'
            return response
        if params.get("grant_type") != "authorization_code":
            return _json(400, {"error": "unsupported_grant_type"})
        # The code is spent by any attempt to use it, a failed one included.
        with self._lock:
            grant = self._grants.pop(params.get("code", ""), None)
        if grant is None:
            return _json(400, {"error": "invalid_grant", "error_description": "Unknown code"})
        if time.monotonic() - grant.issued_at > self.code_lifetime_seconds:
            return _json(400, {"error": "invalid_grant", "error_description": "Code expired"})
        if params.get("redirect_uri") != grant.params["redirect_uri"]:
            return _json(400, {"error": "invalid_grant", "error_description": "Wrong redirect_uri"})
        access_token = secrets.token_urlsafe(32)
        answer = {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": 600,
            "id_token": self._id_token(grant, access_token),
        }
        return _json(200, answer)

    def _client_authenticated(self, authorization: str) -> bool:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            sent = base64.b64decode(credentials, validate=True).decode("latin-1")
        except ValueError:
            return False
        # RFC 6749 2.3.1 form-encodes both parts before joining them; Authlib and requests send
        # them as they are (in Latin-1). Either is accepted.
        client_id, _, secret = sent.partition(":")
        decoded = f"{unquote_plus(client_id)}:{unquote_plus(secret)}"
        expected = f"{self.client_id}:{self.client_secret}"
        return any(
            hmac.compare_digest(candidate.encode(), expected.encode())
            for candidate in (sent, decoded)
        )

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        """The claims TARA's specification lists (HarID's where the flavour says), then the
        override."""
        now = int(time.time())
        person, params = grant.person, grant.params
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "iss": self.issuer,
            "aud": self.client_id,
            "exp": now + 40,
            "iat": now,
            "nbf": now,
        }
        if self.flavour == "tara":
            claims["sub"] = "EE" + person.id_code
            claims["profile_attributes"] = {
                "date_of_birth": ik.get_birth_date(person.id_code).isoformat(),
                "given_name": person.given_name,
                "family_name": person.family_name,
            }
            claims["amr"] = [grant.method]
            claims["state"] = params["state"]
            claims["acr"] = params.get("acr_values", "substantial")
        else:
            claims["sub"] = str(uuid.uuid5(HARID_SUBJECTS, person.id_code))
            claims["given_name"], claims["family_name"] = person.proper_name
            if "personal_code" in params["scope"].split():
                claims["personal_code"] = "EE:EID:" + person.id_code
        if "nonce" in params:
            claims["nonce"] = params["nonce"]
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["at_hash"] = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        for name, value in dict(self.claims_override).items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self._signed(claims)

    def _signed(self, claims: dict[str, Any]) -> str:
        key = self._keys[-1]
        kid = key.kid
        if self.sign_with != "current":
            if self._stranger is None:
                self._stranger = RSAKey.generate_key(2048, private=True)
            key = self._stranger
            if self.sign_with == "unknown_kid":
                kid = "unknown-" + secrets.token_hex(8)
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)

    # The pages.

    def _page(self, status: int, main: str, language: Literal["et", "en"]) -> _Response:
        # Estonian puts the name in the genitive: "TARA asendaja", "HarIDi asendaja".
        names = {"name": self.name, "genitive": "TARA" if self.flavour == "tara" else "HarIDi"}
        page = _PAGE.format(
            language=language,
            title=html.escape(_TEXTS[language]["title"].format(**names)),
            notice_et=html.escape(_TEXTS["et"]["notice"].format(**names)),
            notice_en=html.escape(_TEXTS["en"]["notice"].format(**names)),
            main=main,
        )
        headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        return _Response(status, page.encode(), headers)

    def _choice_body(self, params: dict[str, str], methods: list[str]) -> str:
        texts = _TEXTS[_language(params)]
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in params.items()
            if name not in ("person", "method", "action")
        )
        people = "".join(
            _radio("person", person.id_code, f"{' '.join(person.proper_name)}, "
                   f"{texts['id_code']} {person.id_code}", first=index == 0)
            for index, person in enumerate(self.people.values())
        )  # fmt: skip
        method_choice = ""
        if methods:
            radios = "".join(
                _radio("method", amr, texts[amr], first=index == 0)
                for index, amr in enumerate(methods)
            )
            method_choice = f"<fieldset><legend>{texts['method']}</legend>{radios}</fieldset>"
        return (
            f"<h1>{texts['heading']}</h1>"
            f'<form method="post" action="/oidc/authorize">{hidden}'
            f"<fieldset><legend>{texts['person']}</legend>{people}</fieldset>{method_choice}"
            '<div class="actions">'
            '<button class="continue" type="submit" name="action" value="continue">'
            '<span lang="et">Jätka</span> / <span lang="en">Continue</span></button>'
            '<button class="cancel" type="submit" name="action" value="cancel">'
            '<span lang="et">Katkesta</span> / <span lang="en">Cancel</span></button>'
            "</div></form>"
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a token answer the knobs delay

    def __init__(self, address: tuple[str, int], provider: StandInProvider) -> None:
        self.provider = provider
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length))

    def _answer(self, body: bytes) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.provider.handle(self.command, self.path, headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.provider.demo:
            super().log_message(format, *args)


def _signing_key() -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"use": "sig", "alg": "RS256"}, private=True, auto_kid=True
    )


def _single_values(query: str) -> dict[str, str]:
    """The parameters of a query or form; OAuth forbids sending one twice (RFC 6749 3.1)."""
    values = parse_qs(query, keep_blank_values=True)
    if any(len(value) > 1 for value in values.values()):
        raise _BadRequest("A parameter is repeated.")
    return {name: value[0] for name, value in values.items()}


def _eidas_scope(scope: str) -> bool:
    return scope == "eidasonly" or scope.startswith("eidas:country:")


def _redirect(params: dict[str, str], **answer: str) -> _Response:
    url = urlsplit(params["redirect_uri"])
    query = urlencode({**answer, "state": params["state"]})
    location = urlunsplit(url._replace(query=f"{url.query}&{query}" if url.query else query))
    return _Response(302, headers={"Location": location, "Cache-Control": "no-store"})


def _json(status: int, content: Mapping[str, object]) -> _Response:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }
    return _Response(status, json.dumps(content).encode(), headers)


def _language(params: dict[str, str]) -> Literal["et", "en"]:
    """The page's language from `ui_locales`: Estonian or English; Russian gets English, which a
    Russian speaker is likelier to read than Estonian (the stand-in has no Russian page)."""
    for tag in params.get("ui_locales", "").split():
        if tag.startswith("et"):
            return "et"
        if tag.startswith(("en", "ru")):
            return "en"
    return "et"


def _radio(name: str, value: str, label: str, *, first: bool) -> str:
    checked = " checked" if first else ""
    return (
        f'<label><input type="radio" name="{name}" value="{html.escape(value)}"{checked}> '
        f"{html.escape(label)}</label>"
    )


def _error_body(reason: str) -> str:
    return (
        '<h1><span lang="et">Vigane päring</span> / <span lang="en">Bad request</span></h1>'
        f'<p lang="en">{html.escape(reason)}</p>'
    )


# The stand-in's own words, not the product's: they are chosen by the request's ui_locales,
# as TARA's are, so they do not go through the product's catalogues.
_TEXTS = {
    "et": {
        "title": "{genitive} asendaja (demo): sisselogimine",
        "notice": "Demo: see on {genitive} asendaja arendamiseks ja testimiseks, mitte päris "
        "{name}. Siin ei küsita ID-kaarti ega PIN-koode: vali lihtsalt, kellena sisse logid.",
        "heading": "Vali, kellena sisse logid",
        "person": "Isik",
        "id_code": "isikukood",
        "method": "Autentimisvahend",
        "idcard": "ID-kaart",
        "mID": "Mobiil-ID",
        "smartid": "Smart-ID",
        "eIDAS": "Piiriülene autentimine (eIDAS)",
    },
    "en": {
        "title": "{name} stand-in (demo): log in",
        "notice": "Demo: this stands in for {name} in development and tests; it is not the real "
        "{name}. No ID card or PIN codes are asked here: just choose who you log in as.",
        "heading": "Choose who you log in as",
        "person": "Person",
        "id_code": "ID code",
        "method": "Authentication method",
        "idcard": "ID card",
        "mID": "Mobile-ID",
        "smartid": "Smart-ID",
        "eIDAS": "EU eID (eIDAS)",
    },
}

_PAGE = """<!DOCTYPE html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 0; font-family: system-ui, sans-serif; line-height: 1.5; color: #1a1a1a; }}
header {{ background: #fff4ce; border-bottom: 3px solid #8a6d00; padding: 0.5rem 1rem; }}
header p {{ margin: 0.25rem 0; }}
main {{ max-width: 36rem; margin: 0 auto; padding: 1rem; }}
fieldset {{ border: 1px solid #767676; border-radius: 4px; margin: 0 0 1rem; }}
legend {{ font-weight: bold; }}
label {{ display: flex; gap: 0.5rem; align-items: baseline; padding: 0.4rem 0; }}
.actions {{ display: flex; flex-wrap: wrap; gap: 0.75rem; }}
button {{ font: inherit; padding: 0.6rem 1.2rem; border: 2px solid #003168; border-radius: 4px; }}
.continue {{ background: #003168; color: #fff; }}
.cancel {{ background: #fff; color: #003168; }}
:focus-visible {{ outline: 3px solid #b35c00; outline-offset: 2px; }}
</style>
</head>
<body>
<header>
<p lang="et">{notice_et}</p>
<p lang="en">{notice_en}</p>
</header>
<main>{main}</main>
</body>
</html>
"""
