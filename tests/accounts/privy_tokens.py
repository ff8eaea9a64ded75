"""Privy-like tokens for tests: an ES256 key pair made here, tokens signed exactly as Privy signs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway_common.timeutil import now_ts

APP_ID = "clapp_test_gateway"


@dataclass
class Signer:
    private_key: ec.EllipticCurvePrivateKey
    public_pem: str

    def token(self, did: str = "did:privy:alice", *, aud: str = APP_ID, iss: str = "privy.io", ttl: int = 3600,
              iat_offset: int = 0, **extra: Any) -> str:
        now = int(now_ts())
        claims = {"sid": "sess_1", "sub": did, "iss": iss, "aud": aud, "iat": now + iat_offset, "exp": now + ttl, **extra}
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": APP_ID})


def make_signer() -> Signer:
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return Signer(private_key, pem)
