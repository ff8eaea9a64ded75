"""Data access and rules for API keys (ApiKeysTable). Only the SHA-256 hash of a key is ever stored."""

from __future__ import annotations

from botocore.exceptions import ClientError

from . import db
from .dynamo_items import to_item
from .errors import Conflict, NotFound
from .keys import generate_gw_key, hash_key, key_environment, key_id_for_hash, key_kind, mask_key
from .models import ApiKeyRecord
from .timeutil import iso_now

API_KEYS = "ApiKeysTable"


def store_key(
    raw_key: str,
    *,
    user_id: str,
    key_name: str,
    scope_permissions: dict[str, list[str]] | None = None,
    expires_at: int | None = None,
    plan_id: int | None = None,
) -> ApiKeyRecord:
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
    )
    try:
        db.table(API_KEYS).put_item(
            Item=to_item(record.model_dump()), ConditionExpression="attribute_not_exists(key_id)"
        )
    except ClientError as exc:
        if db.is_conditional_failure(exc):
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
) -> tuple[str, ApiKeyRecord]:
    """A new ``gw_<env>_…`` key: returns the plaintext (shown once) and the stored record."""
    raw = generate_gw_key(environment)
    return raw, store_key(
        raw, user_id=user_id, key_name=key_name, scope_permissions=scope_permissions, expires_at=expires_at
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


def update_key(user_id: str, key_id: str, *, key_name: str | None, is_active: bool | None) -> ApiKeyRecord:
    get_owned_key(user_id, key_id)
    sets = {"updated_at": iso_now()}
    if key_name is not None:
        sets["key_name"] = key_name
    if is_active is not None:
        sets["is_active"] = is_active  # type: ignore[assignment]
    names = {f"#a{i}": k for i, k in enumerate(sets)}
    values = {f":v{i}": v for i, v in enumerate(sets.values())}
    out = db.table(API_KEYS).update_item(
        Key={"key_id": key_id},
        UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(sets))),
        ConditionExpression="attribute_exists(key_id) AND #st <> :deleted",
        ExpressionAttributeNames={**names, "#st": "status"},
        ExpressionAttributeValues={**values, ":deleted": "deleted"},
        ReturnValues="ALL_NEW",
    )
    return ApiKeyRecord.model_validate(out["Attributes"])


def delete_key(user_id: str, key_id: str) -> ApiKeyRecord:
    """Soft delete: the record stays (usage and audit refer to it), the key stops authenticating."""
    get_owned_key(user_id, key_id)
    out = db.table(API_KEYS).update_item(
        Key={"key_id": key_id},
        UpdateExpression="SET #st = :deleted, is_active = :false, updated_at = :now",
        ConditionExpression="attribute_exists(key_id)",
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={":deleted": "deleted", ":false": False, ":now": iso_now()},
        ReturnValues="ALL_NEW",
    )
    return ApiKeyRecord.model_validate(out["Attributes"])
