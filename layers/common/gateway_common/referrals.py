"""Referrals: every user has one stable code; a new user applying it gets a reward at once, and the referrer's reward
waits (``pending``) until the referred user's first payment, then is ``completed`` and credited (``paid``) exactly once.

Exactly once comes from the ledger: the rewards are the entries ``referral:<referral id>:referred`` and
``referral:<referral id>:referrer``, and the referral id is derived from the referred user's id, so a replayed payment
event (or two events of one payment) finds the entry and changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from . import billing, db, ledger, users
from .errors import BadRequest, Conflict, NotFound
from .observability import logger
from .timeutil import iso_now, parse_iso, utcnow

REFERRED_REWARD = Decimal("10.00")  # credits for the new user, when they apply a code
REFERRER_REWARD = Decimal("10.00")  # credits for the referrer, after the referred user's first payment
APPLY_WINDOW_DAYS = 7  # a code can be applied within this many days of sign-up
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
Status = Literal["pending", "completed", "paid"]


class Referral(BaseModel):
    referral_id: str
    referral_code: str
    referrer_id: str
    referred_user_id: str
    referred_email: str = ""
    status: Status = "pending"
    reward_amount: Decimal = REFERRER_REWARD
    referred_reward: Decimal = REFERRED_REWARD
    created_at: str
    completed_at: str | None = None
    paid_at: str | None = None
    first_payment_id: str | None = None


def referral_id_for(referred_user_id: str) -> str:
    return "ref_" + hashlib.sha256(referred_user_id.encode()).hexdigest()[:16]


def _new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


def code_for(user_id: str) -> str:
    """The user's referral code, created on first request and stable afterwards."""
    for _ in range(5):
        item = billing.get(f"USER#{user_id}", "REFCODE")
        if item:
            return str(item["code"])
        code = _new_code()
        try:
            billing.write([
                billing.transact_put({"pk": f"USER#{user_id}", "sk": "REFCODE", "code": code, "created_at": iso_now()}),
                billing.transact_put({"pk": f"REFCODE#{code}", "sk": "REFCODE", "user_id": user_id}),
            ])
            return code
        except ClientError as exc:
            if "ConditionalCheckFailed" not in db.cancellation_reasons(exc):
                raise
    raise Conflict("Could not allocate a referral code: retry")  # pragma: no cover


def owner_of(code: str) -> str | None:
    item = billing.get(f"REFCODE#{code.strip().upper()}", "REFCODE")
    return str(item["user_id"]) if item else None


def get_for_referred(user_id: str) -> Referral | None:
    item = billing.get(f"USER#{user_id}", "REFERRED")
    return Referral.model_validate(item) if item else None


def _mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def apply(user_id: str, code: str, *, meta: dict[str, str | None]) -> tuple[Referral, ledger.CreditResult]:
    code = code.strip().upper()
    user = users.require_user(user_id)
    referrer_id = owner_of(code)
    if referrer_id is None:
        raise NotFound(f"Referral code '{code}' does not exist")
    if referrer_id == user_id:
        raise BadRequest("You cannot apply your own referral code")
    deadline = parse_iso(user.created_at) + timedelta(days=APPLY_WINDOW_DAYS)
    if utcnow() > deadline:
        raise BadRequest(
            f"Referral codes can be applied only within {APPLY_WINDOW_DAYS} days of sign-up; your account was created "
            f"on {user.created_at}"
        )
    if get_for_referred(user_id) is not None:
        raise Conflict("You have already applied a referral code", code="referral_already_applied")
    now = iso_now()
    referral = Referral(
        referral_id=referral_id_for(user_id), referral_code=code, referrer_id=referrer_id, referred_user_id=user_id,
        referred_email=_mask_email(user.email), created_at=now,
    )
    item = {**referral.model_dump(), "pk": f"USER#{user_id}", "sk": "REFERRED",
            "gsi1pk": f"REFERRER#{referrer_id}", "gsi1sk": f"{now}#{referral.referral_id}"}
    try:
        result = ledger.credit(
            user_id=user_id, amount=REFERRED_REWARD, entry_id=f"referral:{referral.referral_id}:referred",
            reason="referral reward (referred)", currency=user.currency, audit_action="referral_applied",
            details={"referral_id": referral.referral_id, "referral_code": code, "referrer_id": referrer_id},
            extra_transact_items=[billing.transact_put(item)], **meta,
        )
    except ledger.ExtraItemRefused:
        raise Conflict("You have already applied a referral code", code="referral_already_applied") from None
    if not result.applied:
        raise Conflict("You have already applied a referral code", code="referral_already_applied")
    return referral, result


def _set_status(referred_user_id: str, new: Status, expected: Status, fields: dict[str, Any]) -> dict[str, Any]:
    names = {"#st": "status", **{f"#f{i}": k for i, k in enumerate(fields)}}
    sets = ", ".join(["#st = :new", *(f"#f{i} = :v{i}" for i in range(len(fields)))])
    vals = {":new": new, ":old": expected, **{f":v{i}": v for i, v in enumerate(fields.values())}}
    return billing.transact_update(f"USER#{referred_user_id}", "REFERRED", "SET " + sets, condition="#st = :old",
                                   names=names, vals=vals)


def on_payment(user_id: str, payment_id: str) -> Referral | None:
    """Called for every successful payment (replays included): completes and pays the user's referral once."""
    referral = get_for_referred(user_id)
    if referral is None or referral.status == "paid":
        return referral
    if referral.status == "pending":
        try:
            billing.write([_set_status(user_id, "completed", "pending",
                                       {"completed_at": iso_now(), "first_payment_id": payment_id})])
        except ClientError as exc:
            if "ConditionalCheckFailed" not in db.cancellation_reasons(exc):
                raise
    referrer = users.get_user(referral.referrer_id)
    if referrer is None:
        logger.warning("referrer no longer exists; referral left completed", extra={"referral_id": referral.referral_id})
        return get_for_referred(user_id)
    try:
        ledger.credit(
            user_id=referral.referrer_id, amount=referral.reward_amount,
            entry_id=f"referral:{referral.referral_id}:referrer", reason="referral reward (referrer)",
            currency=referrer.currency, audit_action="referral_reward_paid",
            details={"referral_id": referral.referral_id, "referred_user_id": user_id, "payment_id": payment_id},
            extra_transact_items=[_set_status(user_id, "paid", "completed", {"paid_at": iso_now()})],
        )
    except ledger.ExtraItemRefused:
        pass  # already paid by a concurrent delivery of the same payment
    except NotFound:
        logger.warning("referrer no longer exists; referral left completed", extra={"referral_id": referral.referral_id})
    return get_for_referred(user_id)


def of_referrer(user_id: str) -> list[Referral]:
    return [Referral.model_validate(i) for i in billing.query_gsi1(f"REFERRER#{user_id}")]


def stats(user_id: str) -> dict[str, Any]:
    refs = of_referrer(user_id)
    converted = [r for r in refs if r.status in ("completed", "paid")]
    return {
        "total_referrals": len(refs),
        "active_referrals": len(converted),
        "total_rewards": sum((r.reward_amount for r in refs if r.status == "paid"), Decimal("0")),
        "pending_rewards": sum((r.reward_amount for r in refs if r.status != "paid"), Decimal("0")),
        "conversion_rate": round(len(converted) / len(refs), 4) if refs else 0.0,
        "recent_referrals": refs[:5],
    }
