"""API key formats: generation, parsing, hashing and masking. Keys are stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal

Environment = Literal["live", "test", "staging", "dev"]
ENVIRONMENTS: tuple[str, ...] = ("live", "test", "staging", "dev")
SANDBOX_ENVIRONMENTS = frozenset({"test", "dev"})

GW_KEY_RE = re.compile(r"^gw_(live|test|staging|dev)_[A-Za-z0-9_-]{16,128}$")
LICENSE_KEY_RE = re.compile(r"^CHA-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}-[0-9A-F]{8}$")


def generate_gw_key(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {environment!r}")
    return f"gw_{environment}_{secrets.token_urlsafe(32)}"


def generate_license_key() -> str:
    groups = [secrets.token_hex(4).upper() for _ in range(4)]
    return "CHA-" + "-".join(groups)


def is_well_formed(raw: str) -> bool:
    return bool(GW_KEY_RE.match(raw) or LICENSE_KEY_RE.match(raw))


def key_kind(raw: str) -> Literal["gw", "license"]:
    return "license" if raw.startswith("CHA-") else "gw"


def key_environment(raw: str) -> str:
    """live/test/staging/dev for gw keys; license keys are live keys."""
    match = GW_KEY_RE.match(raw)
    return match.group(1) if match else "live"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def key_id_for_hash(key_hash: str) -> str:
    """The key's id is derived from its hash: auth is one GetItem by id, and the id reveals nothing of the key."""
    return "key_" + key_hash[:24]


def mask_key(raw: str) -> str:
    """``gw_live_abcd…wxyz``: enough to recognise a key, never enough to use it."""
    if raw.startswith("CHA-"):
        return f"CHA-{raw[4:8]}…{raw[-4:]}"
    environment = key_environment(raw)
    secret = raw[len(f"gw_{environment}_"):]
    return f"gw_{environment}_{secret[:4]}…{secret[-4:]}"
