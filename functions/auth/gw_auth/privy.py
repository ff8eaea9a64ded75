"""Verification of Privy access tokens, exactly as Privy signs them: ES256 JWT, issuer ``privy.io``, audience = our
Privy app id, expiry. Knows nothing of HTTP or users.

Configuration: ``PRIVY_APP_ID`` (plain setting) and the verification key (PEM public key from the Privy dashboard) as
the secret ``PRIVY_VERIFICATION_KEY`` (``gateway_common.secrets``: SSM / Secrets Manager in AWS, env locally).
Time checks use the gateway clock (``timeutil.now_ts``) so tests can move it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway_common.errors import ServiceUnavailable, Unauthorized
from gateway_common.secrets import get_secret
from gateway_common.timeutil import now_ts

ISSUER = "privy.io"
ALGORITHM = "ES256"
LEEWAY_SECONDS = 30  # clock skew tolerated between Privy and us


@dataclass(frozen=True)
class PrivyClaims:
    did: str  # the Privy user id (``did:privy:…``), stable across sign-ins
    session_id: str | None
    issued_at: int
    expires_at: int
    email: str | None  # only when the signed token itself carries it


class TokenRejected(Unauthorized):
    code = "invalid_privy_token"


@lru_cache(maxsize=4)
def _load_key(pem: str) -> EllipticCurvePublicKey:
    try:
        key = load_pem_public_key(pem.replace("\\n", "\n").strip().encode())
    except ValueError:
        raise ServiceUnavailable("Privy sign-in is misconfigured: the verification key is not a PEM public key") from None
    if not isinstance(key, EllipticCurvePublicKey):
        raise ServiceUnavailable("Privy sign-in is misconfigured: the verification key is not an ES256 (P-256) key")
    return key


def configuration() -> tuple[str, EllipticCurvePublicKey]:
    app_id = os.environ.get("PRIVY_APP_ID", "").strip()
    pem = get_secret("PRIVY_VERIFICATION_KEY")
    if not app_id or not pem:
        raise ServiceUnavailable("Privy sign-in is not configured (PRIVY_APP_ID and PRIVY_VERIFICATION_KEY)")
    return app_id, _load_key(pem)


def verify(token: str) -> PrivyClaims:
    """The token's claims, or TokenRejected (401) naming the problem: malformed, signature, issuer, audience, expiry."""
    app_id, key = configuration()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise TokenRejected("Privy token is malformed: expected a JWT (header.payload.signature)") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRejected(f"Privy token has the wrong algorithm '{header.get('alg')}': Privy signs with {ALGORITHM}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=app_id,
            issuer=ISSUER,
            options={"require": ["iss", "aud", "sub", "exp", "iat"], "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        raise TokenRejected("Privy token signature is invalid: it was not signed by this app's Privy key") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("Privy token audience is wrong: it was issued for another Privy app") from None
    except jwt.InvalidIssuerError:
        raise TokenRejected(f"Privy token issuer is wrong: expected '{ISSUER}'") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenRejected(f"Privy token is malformed: the '{exc.claim}' claim is missing") from None
    except jwt.PyJWTError:
        raise TokenRejected("Privy token is malformed: it could not be decoded") from None
    now = now_ts()
    try:
        expires_at, issued_at = int(claims["exp"]), int(claims["iat"])
    except (TypeError, ValueError):
        raise TokenRejected("Privy token is malformed: 'exp' and 'iat' must be numbers") from None
    if expires_at <= now - LEEWAY_SECONDS:
        raise TokenRejected("Privy token has expired: get a fresh one from Privy and sign in again", code="privy_token_expired")
    if issued_at > now + LEEWAY_SECONDS:
        raise TokenRejected("Privy token is not valid yet (issued in the future): check the clock")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise TokenRejected("Privy token is malformed: the 'sub' claim is empty")
    email = claims.get("email")
    return PrivyClaims(
        did=subject,
        session_id=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
        issued_at=issued_at,
        expires_at=expires_at,
        email=email.lower() if isinstance(email, str) and "@" in email else None,
    )
