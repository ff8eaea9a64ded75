"""The audit log: one immutable entry per security- or money-relevant action (AuditTable).

Items are keyed by month (``pk``) and ``sk`` = ``<timestamp>#<id>``, with indexes by user, action and resource type
(each sorted by ``sk``), so every filter of the admin API is a Query. There is no update or delete path.

Tamper evidence (a hash chain per month partition). What it keeps true:
- every entry carries ``seq`` (1, 2, … in its partition), ``prev_hash`` (the ``entry_hash`` of entry ``seq - 1``,
  ``GENESIS`` for the first) and ``entry_hash`` (SHA-256 of its own canonical content, ``prev_hash`` included);
- the partition's head item (``sk = "#head"``: last ``seq`` and ``entry_hash``) moves in the SAME transaction as the
  entry, conditional on the head it was chained to, so two writers can never both extend the chain from one entry
  (the loser re-reads the head and tries again, ``CHAIN_ATTEMPTS`` times, then 503);
- the head's first write also fixes what the partition held before its chain began (``legacy_count``/``legacy_hash``,
  normally nothing), and the first chained month is kept in one item (``#chain``/``#since``): so an entry without a
  link (backdated before the chain, or in a later month with no head) is reported too, not taken for an old one;
- so editing, deleting or inserting an entry directly in DynamoDB breaks a link that ``verify_partition`` reports.
Every transaction holding an audit entry goes through ``transact``: it chains the entries and appends the head updates
at the END of the caller's items, and strips their cancellation reasons, so callers decode reasons by position as before.
Cost: audited writes of one month are serialized on one head item (fine for admin, key and money actions; the hot
request path writes no audit entry). ``"#head"`` sorts before every timestamp, so range queries never see it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import db
from .dynamo_items import to_item
from .dynamo_types import deserialize_item, serialize_item
from .errors import ServiceUnavailable
from .observability import logger
from .timeutil import iso_now

AUDIT = "AuditTable"
_SECRET_FIELDS = frozenset({"api_key", "key", "token", "secret", "password", "client_secret", "authorization"})
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_private_key")
# Credentials by their shape, wherever they sit in a value: full gateway and license keys, JWTs (Privy tokens), Stripe
# secrets. Masked keys (gw_live_abcd…wxyz) and key ids do not match.
_SECRET_VALUE = re.compile(
    r"gw_(?:live|test|staging|dev)_[A-Za-z0-9_\-]{16,}"
    r"|CHA-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}-[A-Za-z0-9]{8}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,}"
)
REDACTED = "[redacted]"


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_FIELDS or lowered.endswith(_SECRET_SUFFIXES)


def _scrub(value: Any) -> Any:
    """Details without secrets: fields named like one are redacted, and credential-shaped strings at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _secret_name(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def audit_item(
    *,
    user_id: str,
    action: str,
    resource_type: str,
    resource_id: str,
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> dict[str, Any]:
    timestamp = iso_now()
    log_id = "log_" + secrets.token_hex(8)
    return to_item(
        {
            "pk": timestamp[:7],
            "sk": f"{timestamp}#{log_id}",
            "id": log_id,
            "user_id": user_id,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "details": _scrub(details or {}),
            "ip_address": ip_address or "",
            "user_agent": user_agent or "",
            "timestamp": timestamp,
        }
    )


def record(**fields: Any) -> dict[str, Any]:
    """Write one entry on its own (chained; conditional on a fresh id, so an entry is never overwritten)."""
    return transact([transaction_put(**fields)])[0]


def transaction_put(**fields: Any) -> dict[str, Any]:
    """The entry as a TransactWriteItems element, to commit atomically with the change it records (through
    ``transact``, which chains it)."""
    item = audit_item(**fields)
    return {
        "Put": {
            "TableName": db.table_name(AUDIT),
            "Item": serialize_item(item),
            "ConditionExpression": "attribute_not_exists(sk)",
        }
    }


# ------------------------------------------------------------------ the hash chain

GENESIS = "0" * 64
HEAD_SK = "#head"
SINCE_KEY = {"pk": "#chain", "sk": "#since"}  # the first chained month (no month partition sorts or reads as "#chain")
CHAIN_ATTEMPTS = 25  # 8 concurrent writers of one month all get through on a loaded machine
_CHAIN_FIELDS = ("seq", "prev_hash", "entry_hash")


def _canonical(value: Any) -> Any:
    """The same JSON value whether an item is being written (ints) or was read back (Decimals)."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return {"n": format(Decimal(str(value)).normalize(), "f")}
    if isinstance(value, bytes | bytearray):
        return {"b": value.hex()}
    return str(value)


def entry_hash(item: dict[str, Any]) -> str:
    """SHA-256 of an entry's canonical content, every attribute but ``entry_hash`` itself."""
    body = {k: v for k, v in item.items() if k != "entry_hash"}
    text = json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_head_item(pk: str) -> dict[str, Any] | None:
    return db.table(AUDIT).get_item(Key={"pk": pk, "sk": HEAD_SK}, ConsistentRead=True).get("Item")


def _read_head(pk: str) -> tuple[int, str]:
    head = _read_head_item(pk)
    return (int(head["seq"]), str(head["entry_hash"])) if head else (0, GENESIS)


def _unchained(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in entries if not all(name in item for name in _CHAIN_FIELDS)]


def legacy_summary(entries: list[dict[str, Any]]) -> tuple[int, str]:
    """(count, SHA-256 over each one's content hash, in ``sk`` order) of a partition's entries written before its
    chain began: fixed in the head by the first chained entry, so none can be added, removed or edited later."""
    digest = hashlib.sha256()
    for item in entries:
        digest.update(entry_hash(item).encode())
    return len(entries), digest.hexdigest()


def _head_update(pk: str, seen_seq: int, new_seq: int, new_hash: str, new_sk: str) -> dict[str, Any]:
    condition = "attribute_not_exists(sk)" if seen_seq == 0 else "#seq = :seen"
    values: dict[str, Any] = {":seq": new_seq, ":hash": new_hash, ":entry": new_sk}
    expression = "SET #seq = :seq, entry_hash = :hash, entry_sk = :entry"
    if seen_seq:
        values[":seen"] = seen_seq
    else:  # the chain's first link: whatever the partition held before it is fixed now
        values[":legacy_count"], values[":legacy_hash"] = legacy_summary(_unchained(partition_entries(pk)))
        expression += ", legacy_count = :legacy_count, legacy_hash = :legacy_hash"
    return {
        "Update": {
            "TableName": db.table_name(AUDIT),
            "Key": serialize_item({"pk": pk, "sk": HEAD_SK}),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#seq": "seq"},
            "ExpressionAttributeValues": serialize_item(values),
        }
    }


def _since_update(pk: str) -> dict[str, Any]:
    """The first month with a chain, kept once (``if_not_exists``): from that month on, a partition that holds
    entries has a head."""
    return {
        "Update": {
            "TableName": db.table_name(AUDIT),
            "Key": serialize_item(SINCE_KEY),
            "UpdateExpression": "SET since = if_not_exists(since, :pk)",
            "ExpressionAttributeValues": serialize_item({":pk": pk}),
        }
    }


def _chained_since() -> str | None:
    item = db.table(AUDIT).get_item(Key=SINCE_KEY, ConsistentRead=True).get("Item")
    return str(item["since"]) if item else None


def _is_entry(element: dict[str, Any], audit_table: str) -> bool:
    put = element.get("Put")
    return bool(put) and put.get("TableName") == audit_table and "S" in put["Item"].get("sk", {})


def _chain(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
    """The caller's items with their audit entries chained, the head updates appended; also the chained entries."""
    audit_table = db.table_name(AUDIT)
    heads: dict[str, tuple[int, str]] = {}
    seen: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for element in items:
        if not _is_entry(element, audit_table):
            out.append(element)
            continue
        item = deserialize_item(element["Put"]["Item"])
        pk = item["pk"]
        if pk not in heads:
            heads[pk] = _read_head(pk)
            seen[pk] = heads[pk][0]
        seq, previous = heads[pk]
        item.update(seq=seq + 1, prev_hash=previous)
        item["entry_hash"] = entry_hash(item)
        heads[pk] = (seq + 1, item["entry_hash"])
        entries.append(item)
        out.append({"Put": {**element["Put"], "Item": serialize_item(item)}})
    last_sk = {e["pk"]: e["sk"] for e in entries}
    updates = [_head_update(pk, seen[pk], seq, digest, last_sk[pk]) for pk, (seq, digest) in heads.items()]
    updates += [_since_update(pk) for pk in heads if seen[pk] == 0]
    return out + updates, len(updates), entries


def transact(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TransactWriteItems for ``items``, their audit entries chained (see the module docstring); returns the chained
    entries. A cancellation caused by the caller's own items is raised as botocore raised it, with reasons for the
    caller's items only; a lost race for the head is retried with the new head."""
    for attempt in range(CHAIN_ATTEMPTS):
        chained, head_count, entries = _chain(items)
        try:
            db.client().transact_write_items(TransactItems=chained)
            for entry in entries:
                logger.info("audit", extra={"action": entry["action"], "resource_type": entry["resource_type"]})
            return entries
        except ClientError as exc:
            reasons = db.cancellation_reasons(exc)
            if not reasons or not head_count:
                raise
            own, on_heads = reasons[: len(items)], reasons[len(items):]
            if all(code == "None" for code in own) and any(code != "None" for code in on_heads):
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311 - jitter: another writer moved the head
                continue
            exc.response["CancellationReasons"] = exc.response.get("CancellationReasons", [])[: len(items)]
            raise
    raise ServiceUnavailable("The audit log is busy right now: retry in a second", code="audit_busy",
                             headers={"Retry-After": "1"})


def partition_entries(pk: str) -> Iterable[dict[str, Any]]:
    """Every entry of a month partition (not its head), in ``sk`` order."""
    return db.query_items(AUDIT, KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                          ExpressionAttributeValues={":pk": pk, ":lo": "0", ":hi": "~"}, ConsistentRead=True)


def verify_partition(pk: str) -> tuple[int, dict[str, Any] | None]:
    """(entries checked, the first broken link or None). Walks the chain in ``seq`` order: each entry's hash must
    match its content, its ``prev_hash`` the previous entry's hash, the ``seq`` numbers must have no gap or
    repeat, and the head must name the last entry (a deleted last entry). Entries without a link are only those the
    head fixed when the chain began (``legacy_summary``); a month with entries and no head is only a month before
    the first chained one."""
    entries = list(partition_entries(pk))
    unchained = _unchained(entries)
    chained = sorted((item for item in entries if all(name in item for name in _CHAIN_FIELDS)), key=lambda i: int(i["seq"]))
    head = _read_head_item(pk)
    if head is None:
        since = _chained_since()
        if chained or (entries and since is not None and pk >= since):
            return 0, _broken(pk, entries[0], "the month holds entries but no chain head (inserted, or the head deleted)")
        return 0, None  # empty, or a month before the first chain: nothing links its entries
    fixed = (int(head.get("legacy_count", 0)), str(head.get("legacy_hash") or legacy_summary([])[1]))
    if legacy_summary(unchained) != fixed:
        return 0, _broken(pk, unchained[0] if unchained else head,
                          "entries without a chain link (seq, prev_hash, entry_hash) differ from those the head fixed "
                          "when the chain began (inserted, edited or deleted)")
    previous_hash, expected_seq = GENESIS, 1
    for checked, item in enumerate(chained):
        if int(item["seq"]) != expected_seq:
            what = "repeated" if int(item["seq"]) < expected_seq else f"missing (expected {expected_seq})"
            return checked, _broken(pk, item, f"seq {int(item['seq'])}: an entry is {what}")
        if entry_hash(item) != item["entry_hash"]:
            return checked, _broken(pk, item, "the entry's content does not match its entry_hash (edited)")
        if item["prev_hash"] != previous_hash:
            return checked, _broken(pk, item, "prev_hash does not match the previous entry's hash")
        previous_hash, expected_seq = item["entry_hash"], expected_seq + 1
    head_seq, head_hash = int(head["seq"]), str(head["entry_hash"])
    if (head_seq, head_hash) != (expected_seq - 1, previous_hash):
        last = chained[-1] if chained else {"pk": pk, "sk": HEAD_SK}
        return len(chained), _broken(pk, last, f"the head names entry {head_seq}, the chain ends at {expected_seq - 1}"
                                                " (entries deleted)")
    return len(chained), None


def _broken(pk: str, item: dict[str, Any], reason: str) -> dict[str, Any]:
    seq = item.get("seq")
    return {"partition": pk, "sk": item.get("sk"), "id": item.get("id"), "seq": int(seq) if seq is not None else None,
            "reason": reason}
