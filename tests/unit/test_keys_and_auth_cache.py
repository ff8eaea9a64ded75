"""Key formats, masking, hashing, and the bounded key cache."""

from __future__ import annotations

import pytest

from gateway_common import apikeys, auth, keys, timeutil
from gateway_common.errors import Unauthorized
from gateway_common.settings import get_settings


@pytest.mark.parametrize("env", keys.ENVIRONMENTS)
def test_generated_gw_keys_are_well_formed_and_masked(env):
    raw = keys.generate_gw_key(env)
    assert keys.is_well_formed(raw) and keys.key_environment(raw) == env
    masked = keys.mask_key(raw)
    assert masked.startswith(f"gw_{env}_") and "…" in masked and raw not in masked
    assert masked.endswith(raw[-4:]) and len(masked) < len(raw)


def test_license_keys():
    raw = keys.generate_license_key()
    assert keys.LICENSE_KEY_RE.match(raw) and keys.key_kind(raw) == "license"
    assert keys.mask_key("CHA-B21AF1CF-BD99A579-01F8A4C0-ECFA58EB") == "CHA-B21A…58EB"
    assert not keys.is_well_formed("CHA-b21af1cf-BD99A579-01F8A4C0-ECFA58EB")
    assert not keys.is_well_formed("gw_prod_" + "a" * 40)


def test_key_id_derives_from_the_hash_not_the_key():
    raw = keys.generate_gw_key("live")
    digest = keys.hash_key(raw)
    assert len(digest) == 64 and keys.key_id_for_hash(digest) == "key_" + digest[:24]
    assert raw[8:20] not in keys.key_id_for_hash(digest)


def test_revoked_key_stops_working_within_the_cache_bound(demo, monkeypatch):
    monkeypatch.setattr(get_settings(), "key_cache_ttl_seconds", 30.0)
    raw, record = apikeys.create_gw_key(user_id=demo["live"]["user_id"], key_name="cached", environment="live")
    assert auth.authenticate(f"Bearer {raw}", None).key.key_id == record.key_id
    apikeys.update_key(demo["live"]["user_id"], record.key_id, key_name=None, is_active=False)

    timeutil.shift_clock(29)
    assert auth.authenticate(f"Bearer {raw}", None).key.is_active  # still cached: within the bound
    timeutil.shift_clock(2)
    with pytest.raises(Unauthorized, match="inactive"):
        auth.authenticate(f"Bearer {raw}", None)


def test_cache_never_holds_plaintext_keys(demo, monkeypatch):
    monkeypatch.setattr(get_settings(), "key_cache_ttl_seconds", 30.0)
    auth.authenticate(f"Bearer {demo['live']['key']}", None)
    assert list(auth._cache) == [keys.hash_key(demo["live"]["key"])]  # it holds the entry, under the key's hash
    assert demo["live"]["key"] not in repr(auth._cache)
