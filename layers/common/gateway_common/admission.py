"""Admission of an AI request: every limit and the money hold, in ONE round trip of conditional writes.

The account is the unit of a plan (as at OpenRouter: more keys never raise a limit). Its user item carries, beside the
balance, everything admission counts, so one conditional UpdateItem admits a request against all of it at once:

  * the plan's request windows (``a#minute#<id>`` …; every window is counted, limited or not) and tokens per minute;
  * per-route override windows (``custom_limits``: ``r<route>#minute#<id>``), a trial's request allowance;
  * the money: prepaid plans hold the maximum cost (``available -= c, reserved += c`` on ``available >= c``);
    AI-included plans take it from the month's budget (``budget#used#<YYYYMM> <= budget - c``); either way the hold is
    recorded as ``hold#<request id>#<taken at>#<mode>#<key id> = c``, which settle removes exactly once;
  * revocation: a key revoked in the last minutes is named on the item (``revoked#<key id>``) and refused at once,
    whatever the key caches of other functions still hold.

The same write lists the account in the sweep's holds-due index while it may hold something (``holds_due``, set only
when absent, and ``holds_open``: see ``metering``), so holds of crashed invocations are found without a write of their
own. Beside it, in the same round trip: the key's own caps on the key's item when it has any (windows, tokens per
minute, monthly budget; the key's item also refuses a deactivated key at once), the idempotency claim and the
chat-session check. When any refuses, the others are taken back (``parallel.run_all_or_undo``), and the refusal names
what was hit.

What stays true (with ``metering``): ``available + reserved = credits added - settled cost``; ``reserved`` and the
budget taken equal the sum of open holds; N concurrent requests against any limit L admit exactly min(N, L).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from . import db, names, ratelimit
from .auth import Caller
from .dynamo_types import deserialize_item
from .errors import Forbidden, PaymentRequired, ServiceUnavailable, Unauthorized
from .expressions import Update
from .metering import Reservation
from .parallel import Step, run_all_or_undo
from .trials import trial_refusal

ATTEMPTS = 3  # a write refused for no reason we can name (the item changed between the write and the read) is retried


@dataclass
class Admitted:
    reservation: Reservation
    decision: ratelimit.Decision
    results: list[Any] = field(default_factory=list)  # of the extra steps, in order


def route_id(route: str) -> str:
    """A short, stable attribute tag for a route ('POST /v1/chat/completions')."""
    import hashlib

    return hashlib.sha256(route.encode()).hexdigest()[:10]


def plan_windows(caller: Caller, ts: float, tokens: int) -> ratelimit.Windows:
    limits = caller.plan_windows()
    tpm = caller.plan.limits.tokens_per_minute
    override = caller.user.rate_limit_override
    if override is not None and override.tokens_per_minute is not None:
        tpm = override.tokens_per_minute
    return ratelimit.Windows(base=names.ACCOUNT_WINDOWS, limits=limits, ts=ts, count_all=True, tokens=tokens,
                             tokens_limit=tpm)


def route_windows(caller: Caller, route: str, ts: float, extra: dict[str, int] | None) -> ratelimit.Windows | None:
    """An admin's custom limit for this route (per minute) and the route's own windows (``/api/chat``: 100 an hour)."""
    limits = dict(extra or {})
    override = caller.user.rate_limit_override
    if override is not None and route in override.custom_limits:
        limits["minute"] = override.custom_limits[route]
    if not limits:
        return None
    return ratelimit.Windows(base=names.ROUTE_WINDOWS + route_id(route), limits=limits, ts=ts,
                             label="this endpoint's")


def key_windows(caller: Caller, ts: float, tokens: int) -> ratelimit.Windows | None:
    caps = caller.key.caps
    if caps is None or not caps.counted:
        return None
    return ratelimit.Windows(base=names.KEY_WINDOWS, limits=caps.windows(), ts=ts, tokens=tokens if caps.tokens_per_minute else 0,
                             tokens_limit=caps.tokens_per_minute, label="this key's")


def check_key_rules(caller: Caller, model_id: str) -> None:
    """What a key's caps decide without a write: the models it may use."""
    caps = caller.key.caps
    if caps is not None and not caps.allows_model(model_id):
        allowed = ", ".join(caps.allowed_models or [])
        raise Forbidden(f"This API key may not use '{model_id}': its allowed_models are {allowed}",
                        code="key_model_not_allowed")


# ---------------------------------------------------------------- the account write

def _account_update(res: Reservation, windows: list[ratelimit.Windows], caller: Caller, stale: list[str]) -> Update:
    update = Update()
    update.require(f"attribute_exists(user_id) AND {update.name('status')} = {update.value('active')}")
    update.require(f"attribute_not_exists({update.name(names.revoked_attribute(res.key_id))})")
    for w in windows:
        w.add_to(update)
    trial = caller.user.trial
    if trial is not None and trial.status == "active":
        attribute = names.trial_attribute(trial.trial_id)
        update.below(attribute, trial.max_requests)
        update.add(attribute, 1)
    # the hold names this request: a write retried after it was applied (a timeout) finds it and changes nothing
    update.require(f"attribute_not_exists({update.name(res.hold)})")
    update.set(res.hold, res.amount)
    # the sweep finds the account through the holds-due index while it may hold something (see metering)
    update.add(names.HOLDS_OPEN, 1)
    for attribute, value in ((names.HOLDS_DUE, res.deadline), (names.HOLDS_SHARD, names.holds_shard(res.user_id))):
        update.set_expression(attribute, f"if_not_exists({update.name(attribute)}, {update.value(value)})")
    if res.mode == "credits":
        update.require(f"available >= {update.value(res.amount)}")
        update.set_expression("available", f"available - {update.value(res.amount)}")
        update.set_expression("reserved", f"if_not_exists(reserved, {update.value(0)}) + {update.value(res.amount)}")
    elif res.mode == "budget":
        used = names.budget_attribute(res.month)
        update.at_most(used, (res.budget or Decimal(0)) - res.amount)
        update.add(used, res.amount)
    for name in stale:
        if name not in update.names.values():
            update.remove(name)
    return update


def _account_undo(res: Reservation, windows: list[ratelimit.Windows], caller: Caller) -> Update:
    update = Update()
    for w in windows:
        w.add_to(update, sign=-1)
    trial = caller.user.trial
    if trial is not None and trial.status == "active":
        update.add(names.trial_attribute(trial.trial_id), -1)
    update.require(f"attribute_exists({update.name(res.hold)})")
    update.remove(res.hold)
    update.add(names.HOLDS_OPEN, -1)
    if res.mode == "credits":
        update.add("available", res.amount)
        update.add("reserved", -res.amount)
    elif res.mode == "budget":
        update.add(names.budget_attribute(res.month), -res.amount)
    return update


def _account_refusal(res: Reservation, windows: list[ratelimit.Windows], caller: Caller, item: dict[str, Any]) -> Exception | None:
    if not item or item.get("status") != "active":
        return Unauthorized("This API key's account is not active")
    if names.revoked_attribute(res.key_id) in item:
        return Unauthorized("This API key was revoked", code="key_revoked")
    for w in windows:
        refused = w.refusal(item)
        if refused is not None:
            return refused
    trial = caller.user.trial
    if trial is not None and trial.status == "active":
        if int(item.get(names.trial_attribute(trial.trial_id), 0)) >= trial.max_requests:
            return trial_refusal(trial)
    if res.mode == "credits" and Decimal(item.get("available", 0)) < res.amount:
        return insufficient_credits(res)
    if res.mode == "budget" and Decimal(item.get(names.budget_attribute(res.month), 0)) > (res.budget or 0) - res.amount:
        return budget_exceeded(res)
    return None


# Attributes of past windows each account (and key) item was last seen with: the next write removes them. Bounded.
_stale: dict[str, list[str]] = {}
_STALE_MAX = 50_000


def account_step(res: Reservation, windows: list[ratelimit.Windows], caller: Caller) -> Step:
    table = db.table_name(names.USERS)
    key = {"user_id": res.user_id}

    def run() -> dict[str, Any]:
        for _ in range(ATTEMPTS):
            update = _account_update(res, windows, caller, _stale.get(res.user_id, []))
            try:
                out = db.client().update_item(**update.low_level(table, key), ReturnValues="ALL_NEW",
                                              ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except ClientError as exc:
                if not db.is_conditional_failure(exc):
                    raise
                old = deserialize_item(exc.response.get("Item") or {})
                if res.hold in old:
                    return old  # our own write, applied before a retry (its response was lost): admitted once
                refusal = _account_refusal(res, windows, caller, old)
                if refusal is not None:
                    raise refusal from None
                continue
            item = deserialize_item(out.get("Attributes") or {})
            stale = [n for w in windows for n in w.stale(item)]
            if len(_stale) >= _STALE_MAX:
                _stale.clear()
            if stale:
                _stale[res.user_id] = stale
            else:
                _stale.pop(res.user_id, None)
            return item
        raise ServiceUnavailable("The account changed during admission several times: retry the request",
                                 headers={"Retry-After": "1"})

    def undo(_: Any) -> None:
        try:
            db.client().update_item(**_account_undo(res, windows, caller).low_level(table, key))
        except ClientError as exc:
            if not db.is_conditional_failure(exc):
                raise

    return Step(run=run, undo=undo)


# ---------------------------------------------------------------- the key's own caps

def key_step(res: Reservation, windows: ratelimit.Windows | None, caps_budget: Decimal | None) -> Step:
    """The key's item: still active (a deactivated key is refused at once), under its own windows and budget."""
    table = db.table_name(names.API_KEYS)
    key = {"key_id": res.key_id}

    hold = names.hold_attribute(res.reservation_id)

    def build(sign: int) -> Update:
        update = Update()
        if sign > 0:
            update.require(f"{update.name('is_active')} = {update.value(True)} AND {update.name('status')} = "
                           f"{update.value('active')} AND attribute_not_exists({update.name(hold)})")
            update.set(hold, res.amount)
        else:
            update.remove(hold)
        if windows is not None:
            windows.add_to(update, sign)
        if caps_budget is not None and res.amount:
            used = names.budget_attribute(res.month, names.KEY_BUDGET_USED)
            if sign > 0:
                update.at_most(used, caps_budget - res.amount)
            update.add(used, sign * res.amount)
        if sign > 0 and windows is not None:
            for name in _stale.get(res.key_id, []):
                if name not in update.names.values():
                    update.remove(name)
        return update

    def run() -> dict[str, Any]:
        try:
            out = db.client().update_item(**build(1).low_level(table, key), ReturnValues="ALL_NEW",
                                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if not db.is_conditional_failure(exc):
                raise
            item = deserialize_item(exc.response.get("Item") or {})
            if hold in item:
                return item  # our own write, applied before a retry: counted once
            if not item or not item.get("is_active") or item.get("status") != "active":
                raise Unauthorized("This API key is inactive or deleted", code="key_revoked") from None
            refused = windows.refusal(item) if windows is not None else None
            if refused is not None:
                raise refused from None
            raise PaymentRequired(
                f"This key's monthly budget ({caps_budget} {res.currency.upper()}) does not cover this request "
                f"(up to {res.amount} {res.currency.upper()}): raise the key's max_budget or lower max_tokens.",
                code="key_budget_exceeded",
            ) from None
        item = deserialize_item(out.get("Attributes") or {})
        if windows is not None:
            stale = windows.stale(item)
            if stale:
                _stale[res.key_id] = stale
            else:
                _stale.pop(res.key_id, None)
        return item

    def undo(_: Any) -> None:
        db.client().update_item(**build(-1).low_level(table, key))

    return Step(run=run, undo=undo)


# ---------------------------------------------------------------- refusals

def insufficient_credits(res: Reservation) -> PaymentRequired:
    return PaymentRequired(
        f"Insufficient credits: this request can cost up to {res.amount} {res.currency.upper()} ({res.model}, prompt "
        "estimate + max_tokens) and your available credits do not cover it. Add credits or lower max_tokens.",
        code="insufficient_credits",
    )


def budget_exceeded(res: Reservation) -> PaymentRequired:
    return PaymentRequired(
        f"Monthly budget exceeded: this request can cost up to {res.amount} {res.currency.upper()} and what is left of "
        f"this month's {res.budget} {res.currency.upper()} budget does not cover it. Lower max_tokens or wait for the "
        "next month.",
        code="budget_exceeded",
    )


# ---------------------------------------------------------------- the pipeline

def admit(
    caller: Caller,
    res: Reservation,
    *,
    route: str,
    route_limits: dict[str, int] | None = None,
    extra: list[Step] | None = None,
) -> Admitted:
    """Admit one AI request: every write in one parallel round trip, all taken back when any refuses."""
    check_key_rules(caller, res.model)
    if res.mode == "budget" and res.budget is not None and res.amount > res.budget:
        raise budget_exceeded(res)
    caps = caller.key.caps
    if caps is not None and caps.max_budget is not None and res.amount > caps.max_budget:
        raise PaymentRequired(
            f"This request can cost up to {res.amount} {res.currency.upper()}, more than this key's monthly budget "
            f"({caps.max_budget}): lower max_tokens.", code="key_budget_exceeded")
    account = [plan_windows(caller, res.ts, res.tokens)]
    per_route = route_windows(caller, route, res.ts, route_limits)
    if per_route is not None:
        account.append(per_route)
    own = key_windows(caller, res.ts, res.tokens)
    for w in [*account, *([own] if own else [])]:
        refused = w.refuse_at_once()
        if refused is not None:
            raise refused
    res.key_counted = own is not None or (caps is not None and caps.max_budget is not None and res.mode != "free")
    res.key_tokens = own is not None and own.tokens_limit is not None
    steps = [account_step(res, account, caller)]
    if res.key_counted:
        steps.append(key_step(res, own, caps.max_budget if caps is not None and res.mode != "free" else None))
    extra = list(extra or [])
    results = run_all_or_undo([*steps, *extra])
    states: tuple[ratelimit.WindowState, ...] = ()
    for w in account:
        states += w.states(results[0])
    if own is not None:
        states += own.states(results[len(steps) - 1])
    return Admitted(reservation=res, decision=ratelimit.Decision(states), results=results[len(steps):])


def judge(caller: Caller, res: Reservation, *, route: str, route_limits: dict[str, int] | None,
          item: dict[str, Any]) -> Exception | None:
    """What admission would answer for ``res`` on the account item as it is (``item``), without writing: the same
    predicates as the write's condition, so a check and a request cannot disagree."""
    try:
        check_key_rules(caller, res.model)
    except Forbidden as refused:
        return refused
    if res.mode == "budget" and res.budget is not None and res.amount > res.budget:
        return budget_exceeded(res)
    windows = [plan_windows(caller, res.ts, res.tokens)]
    per_route = route_windows(caller, route, res.ts, route_limits)
    if per_route is not None:
        windows.append(per_route)
    for w in windows:
        refused = w.refuse_at_once()
        if refused is not None:
            return refused
    return _account_refusal(res, windows, caller, item)
