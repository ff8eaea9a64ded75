"""Data access and rules for API keys (ApiKeysTable). Only the SHA-256 hash of a key is ever stored."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from . import db, names
from .dynamo_items import to_item
from .dynamo_types import serialize_item
from .errors import Conflict, NotFound
from .expressions import Update
from .keys import generate_gw_key, hash_key, key_environment, key_id_for_hash, key_kind, mask_key
from .models import ApiKeyRecord, KeyCaps
from .timeutil import iso_now, now_ts

API_KEYS = "ApiKeysTable"


def store_key(
    raw_key: str,
    *,
    user_id: str,
    key_name: str,
    scope_permissions: dict[str, list[str]] | None = None,
    expires_at: int | None = None,
    plan_id: int | None = None,
    caps: KeyCaps | None = None,
    with_items: list[dict[str, Any]] | None = None,
) -> ApiKeyRecord:
    """Store a key's record; ``with_items`` (e.g. its audit entry) commit in the same transaction, so a failure leaves
    neither a key nobody was shown nor an audit entry for a key that does not exist."""
    key_hash = hash_key(raw_key)
    record = ApiKeyRecord(
        key_id=key_id_for_hash(key_hash),
        key_hash=key_hash,
        user_id=user_id,
        key_name=key_name,
        kind=key_kind(raw_key),
        environment=key_environment(raw_key),
        masked=mask_key(raw_key),
        scope_permissions=scope_permissions or {"read": ["*"], "write": ["*"]},
        created_at=iso_now(),
        expires_at=expires_at,
        plan_id=plan_id,
        caps=caps,
    )
    try:
        if with_items:
            from . import audit

            audit.transact([{"Put": {"TableName": db.table_name(API_KEYS), "Item": serialize_item(to_item(record.model_dump())),
                                     "ConditionExpression": "attribute_not_exists(key_id)"}}, *with_items])
        else:
            db.table(API_KEYS).put_item(
                Item=to_item(record.model_dump()), ConditionExpression="attribute_not_exists(key_id)"
            )
    except ClientError as exc:
        if db.is_conditional_failure(exc) or db.cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            raise Conflict("That key already exists") from None
        raise
    return record


def create_gw_key(
    *,
    user_id: str,
    key_name: str,
    environment: str,
    scope_permissions: dict[str, list[str]] | None = None,
    expires_at: int | None = None,
    caps: KeyCaps | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A new ``gw_<env>_…`` key: returns the plaintext (shown once) and the stored record."""
    raw = generate_gw_key(environment)
    return raw, store_key(
        raw, user_id=user_id, key_name=key_name, scope_permissions=scope_permissions, expires_at=expires_at, caps=caps
    )


def get_key(key_id: str) -> ApiKeyRecord | None:
    item = db.table(API_KEYS).get_item(Key={"key_id": key_id}, ConsistentRead=True).get("Item")
    return ApiKeyRecord.model_validate(item) if item else None


def get_owned_key(user_id: str, key_id: str) -> ApiKeyRecord:
    """The caller's own live (not deleted) key; another user's key id is indistinguishable from a missing one."""
    record = get_key(key_id)
    if record is None or record.user_id != user_id or record.status == "deleted":
        raise NotFound(f"API key '{key_id}' not found")
    return record


def list_user_keys(user_id: str) -> list[ApiKeyRecord]:
    items = db.query_items(
        API_KEYS, IndexName="by-user", KeyConditionExpression="user_id = :u", ExpressionAttributeValues={":u": user_id}
    )
    records = [ApiKeyRecord.model_validate(i) for i in items]
    return sorted((r for r in records if r.status != "deleted"), key=lambda r: r.created_at)


_UNSET: Any = object()
REVOCATION_KEPT_SECONDS = 600  # revoked#<key> marks outlive every key cache (30 s) by far; older ones are pruned


def _revocation(user_id: str, key_id: str, *, revoke: bool) -> dict[str, Any]:
    """The account-item update that names a key as revoked (admission then refuses it at once, whatever caches still
    hold) or clears the mark (re-activation). Marks older than every cache bound are pruned on the way."""
    update = Update()
    update.require("attribute_exists(user_id)")
    mark = names.revoked_attribute(key_id)
    if revoke:
        update.set(mark, int(now_ts()))
    else:
        update.remove(mark)
    item = db.table(names.USERS).get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item") or {}
    cutoff = now_ts() - REVOCATION_KEPT_SECONDS
    for name, at in item.items():
        if name.startswith(names.REVOKED) and name != mark and float(at) < cutoff:
            update.remove(name)
    return {"Update": update.low_level(db.table_name(names.USERS), {"user_id": user_id})}


def update_key(
    user_id: str,
    key_id: str,
    *,
    key_name: str | None = None,
    is_active: bool | None = None,
    caps: KeyCaps | None = _UNSET,
    expires_at: int | None = _UNSET,
) -> ApiKeyRecord:
    """Change a key; a deactivation is written with its revocation mark on the account item in one transaction."""
    get_owned_key(user_id, key_id)
    update = Update()
    update.require(f"attribute_exists(key_id) AND {update.name('status')} <> {update.value('deleted')}")
    update.set("updated_at", iso_now())
    if key_name is not None:
        update.set("key_name", key_name)
    if is_active is not None:
        update.set("is_active", is_active)
    if caps is not _UNSET:
        if caps is None:
            update.remove("caps")
        else:
            update.set("caps", to_item(caps.model_dump()))
    if expires_at is not _UNSET:
        if expires_at is None:
            update.remove("expires_at")
        else:
            update.set("expires_at", expires_at)
    items = {"key": {"Update": update.low_level(db.table_name(API_KEYS), {"key_id": key_id})}}
    if is_active is not None:
        items["account"] = _revocation(user_id, key_id, revoke=not is_active)
    try:
        db.transact(items)
    except db.TransactionRefused:
        raise NotFound(f"API key '{key_id}' not found") from None
    record = get_key(key_id)
    assert record is not None
    return record


def delete_key(user_id: str, key_id: str) -> ApiKeyRecord:
    """Soft delete: the record stays (usage and audit refer to it), the key stops authenticating at once."""
    get_owned_key(user_id, key_id)
    update = Update()
    update.require("attribute_exists(key_id)")
    update.set("status", "deleted")
    update.set("is_active", False)
    update.set("updated_at", iso_now())
    try:
        db.transact({"key": {"Update": update.low_level(db.table_name(API_KEYS), {"key_id": key_id})},
                     "account": _revocation(user_id, key_id, revoke=True)})
    except db.TransactionRefused:
        raise NotFound(f"API key '{key_id}' not found") from None
    record = get_key(key_id)
    assert record is not None
    return record
