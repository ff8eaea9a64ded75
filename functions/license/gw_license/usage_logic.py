"""Rules of the usage and limits API: real-time figures from the counters, history from rollups. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gateway_common import account_state, admission, apikeys, catalog, metering, plans, ratelimit, rollups, usage
from gateway_common.auth import Caller, authenticate
from gateway_common.errors import GatewayError, NotFound, PaymentRequired, Unauthorized
from gateway_common.keys import hash_key, is_well_formed, key_id_for_hash
from gateway_common.license_chat import DEFAULT_MODEL, DEFAULT_PROVIDER, PROBE_MESSAGES, license_model
from gateway_common.metering import Reservation
from gateway_common.parallel import run_parallel
from gateway_common.providers.base import estimate_prompt_tokens
from gateway_common.timeutil import iso, now_ts

from .usage_schemas import (
    BudgetLimit,
    CountLimit,
    CurrentUsage,
    CurrentUsageResponse,
    DayUsage,
    DefaultRequest,
    HistorySummary,
    LimitsCheckResponse,
    LimitsStatus,
    MonthUsage,
    Period,
    ProviderDay,
    RecentRequest,
    ResetTimes,
    UsageHistoryResponse,
    UsageLimits,
    UsagePercentages,
    UsagePlan,
    WindowUsage,
)

WARNING_THRESHOLD = Decimal("80")
REQUESTS_WARNING = "Monthly request limit approaching (>80%)"
BUDGET_WARNING = "Monthly budget limit approaching (>80%)"
RECENT_REQUESTS = 20
LICENSE_CHAT_ROUTE = "POST /api/chat"


@dataclass(frozen=True)
class Snapshot:
    """One consistent look at the account: plan windows (with counts and resets) and the month's spend and budget."""

    caller: Caller
    ts: float
    account: account_state.AccountState
    states: dict[str, ratelimit.WindowState]
    counts: dict[str, int]
    spend: account_state.Spend

    @property
    def budget(self) -> Decimal | None:
        return self.caller.plan.monthly_budget

    @property
    def budget_used(self) -> Decimal:
        """Settled cost plus what open requests hold (what admission compares with the budget)."""
        return self.account.budget_used()

    @property
    def currency(self) -> str:
        return self.caller.plan.currency

    def percent(self, used: Decimal | int, limit: Decimal | int | None) -> float:
        if not limit:
            return 0.0
        return float((Decimal(used) * 100 / Decimal(limit)).quantize(Decimal("0.1")))

    @property
    def requests_percent(self) -> float:
        return self.percent(self.counts["month"], self.caller.plan_windows().get("month"))

    @property
    def budget_percent(self) -> float:
        return self.percent(self.spend.cost, self.budget)

    def warnings(self) -> list[str]:
        """At 80% or more, on the exact figures (the percentages shown are rounded: 79.96% shows as 80.0)."""

        def reached(used: Decimal | int, limit: Decimal | int | None) -> bool:
            return bool(limit) and Decimal(used) * 100 >= WARNING_THRESHOLD * Decimal(limit or 0)

        out = []
        if reached(self.counts["month"], self.caller.plan_windows().get("month")):
            out.append(REQUESTS_WARNING)
        if reached(self.spend.cost, self.budget):
            out.append(BUDGET_WARNING)
        return out

    def in_eur(self, amount: Decimal | None) -> Decimal | None:
        return amount if amount is not None and self.currency == "eur" else None


def snapshot(caller: Caller) -> Snapshot:
    """The account item only (never rollups): one consistent GetItem gives every window count and the month's
    spend, shared by all of the account's keys, as admission counts them."""
    account = account_state.read(caller.user_id)
    counts = account.counts()
    bounds = {w: ratelimit.window_bounds(w, account.ts) for w in ratelimit.WINDOW_ORDER}
    states = {w: ratelimit.WindowState(w, limit, counts[w], bounds[w][1]) for w, limit in caller.plan_windows().items()}
    return Snapshot(caller=caller, ts=account.ts, account=account, states=states, counts=counts, spend=account.spend())


def current_usage(caller: Caller) -> CurrentUsageResponse:
    snap = snapshot(caller)
    plan, windows = caller.plan, caller.plan_windows()
    spend = snap.spend
    return CurrentUsageResponse(
        license_key=caller.key.masked,
        plan=UsagePlan(name=plan.name, display_name=plan.display_name, price=plan.monthly_price, currency=plan.currency),
        current_usage=CurrentUsage(
            current_month=MonthUsage(
                requests=snap.counts["month"],
                tokens=spend.tokens,
                cost=spend.cost,
                cost_eur=snap.in_eur(spend.cost),
                currency=plan.currency,
                avg_response_time_ms=round(spend.latency_ms / spend.requests) if spend.requests else 0,
            ),
            current_day=WindowUsage(requests=snap.counts["day"]),
            current_hour=WindowUsage(requests=snap.counts["hour"]),
            current_minute=WindowUsage(requests=snap.counts["minute"]),
            limits=UsageLimits(
                **UsageLimits.fields_from(windows, snap.budget), monthly_budget_eur=snap.in_eur(snap.budget)
            ),
            usage_percentages=UsagePercentages(requests=snap.requests_percent, budget=snap.budget_percent),
        ),
        warnings=snap.warnings(),
        timestamp=iso(datetime.fromtimestamp(snap.ts, tz=UTC)),
    )


@dataclass(frozen=True)
class LimitsVerdict:
    body: LimitsCheckResponse
    refusal: GatewayError | None  # what a default /api/chat request would get now (None: admitted)


def _count_limit(snap: Snapshot, window: str, with_percentage: bool = False) -> CountLimit:
    state = snap.states.get(window)
    current = snap.counts[window]
    if state is None:
        return CountLimit(passed=True, current=current, limit=None, percentage=0.0 if with_percentage else None)
    return CountLimit(
        passed=state.count < state.limit, current=state.count, limit=state.limit,
        percentage=snap.percent(state.count, state.limit) if with_percentage else None,
    )


def default_request(caller: Caller, ts: float) -> tuple[Reservation, DefaultRequest]:
    """The request /api/chat gets with its defaults (the plan's default model, no max_tokens: the model's output limit)
    and the probe prompt: what the check judges, exactly as admission would."""
    entry = catalog.get_model(license_model(DEFAULT_PROVIDER, DEFAULT_MODEL))
    prompt = estimate_prompt_tokens(list(PROBE_MESSAGES))
    cap = entry.max_output()
    plan = caller.plan
    cost = catalog.token_cost(entry, prompt, cap, plan.currency)
    byok = plan.billing_mode == "byok"  # they pay their provider: only the request windows apply
    mode: metering.Mode = "free" if caller.is_sandbox or cost <= 0 or byok else (
        "budget" if plan.billing_mode == "ai_included" and plan.monthly_budget is not None else "credits")
    res = metering.Reservation(
        reservation_id="check", user_id=caller.user_id, key_id=caller.key.key_id, plan_id=plan.id, mode=mode,
        amount=cost if mode != "free" else Decimal(0), currency=plan.currency, endpoint="/api/chat", model=entry.id,
        ts=ts, budget=plan.monthly_budget if mode == "budget" else None, tokens=prompt + cap,
    )
    view = DefaultRequest(model=entry.id, messages=[dict(m) for m in PROBE_MESSAGES], max_tokens=cap,
                          prompt_tokens_estimate=prompt, max_cost=cost, currency=plan.currency)
    return res, view


def _remaining(snap: Snapshot) -> Decimal | None:
    """Money an AI request can still use: the budget left (AI-included plans) or the available credits."""
    if snap.budget is not None:
        return snap.budget - snap.budget_used
    if snap.caller.plan.billing_mode == "byok":
        return None
    return snap.account.available()


def _largest_output(entry_id: str, prompt: int, remaining: Decimal | None, currency: str) -> int:
    """The largest max_tokens a default request (same model and prompt) could ask for now."""
    entry = catalog.get_model(entry_id)
    if remaining is None:
        return entry.max_output()
    price = catalog.token_cost(entry, 0, 1, currency) - catalog.token_cost(entry, 0, 0, currency)
    base = catalog.token_cost(entry, prompt, 0, currency)
    if price <= 0:
        return entry.max_output() if remaining >= base else 0
    return max(min(int((remaining - base) / price), entry.max_output()), 0)


def check_limits(caller: Caller) -> LimitsVerdict:
    """Whether a default /api/chat request would be admitted now: the same judgement admission makes, on the same
    item. Reads only: the plan's request quota is not consumed."""
    snap = snapshot(caller)
    probe, view = default_request(caller, snap.ts)
    route_limits = plans.endpoint_limits(LICENSE_CHAT_ROUTE)
    judged = admission.judge(caller, probe, route=LICENSE_CHAT_ROUTE, route_limits=route_limits, item=snap.account.item)
    refusal = judged if isinstance(judged, GatewayError) else None
    remaining = _remaining(snap)
    status = LimitsStatus(
        monthly_requests=_count_limit(snap, "month", with_percentage=True),
        requests_per_minute=_count_limit(snap, "minute"),
        requests_per_hour=_count_limit(snap, "hour"),
        requests_per_day=_count_limit(snap, "day"),
        monthly_budget=BudgetLimit(
            passed=not (isinstance(refusal, PaymentRequired) and refusal.code == "budget_exceeded"),
            current_cost=snap.spend.cost,
            current_cost_eur=snap.in_eur(snap.spend.cost),
            limit=snap.budget,
            limit_eur=snap.in_eur(snap.budget),
            currency=snap.currency,
            percentage=snap.budget_percent,
            held=snap.budget_used - snap.spend.cost if snap.budget is not None else Decimal(0),
        ),
    )
    blocking = [name for name, value in status if not value.passed]
    if refusal is not None and not blocking:
        blocking.append(refusal.code or "refused")
    resets = {w: ratelimit.window_bounds(w, snap.ts)[1] for w in ratelimit.WINDOW_ORDER}

    def at(epoch: int) -> str:
        return iso(datetime.fromtimestamp(epoch, tz=UTC))

    body = LimitsCheckResponse(
        license_key=caller.key.masked,
        can_make_request=refusal is None,
        limits_status=status,
        blocking_factors=blocking,
        warnings=snap.warnings(),
        reset_times=ResetTimes(
            next_minute=at(resets["minute"]), next_hour=at(resets["hour"]),
            next_day=at(resets["day"]), next_month=at(resets["month"]),
        ),
        remaining=remaining,
        remaining_eur=snap.in_eur(remaining),
        currency=snap.currency,
        default_request=view,
        largest_max_tokens=_largest_output(view.model, view.prompt_tokens_estimate, remaining, snap.currency),
    )
    return LimitsVerdict(body=body, refusal=refusal)


def caller_for_path_key(raw: str) -> Caller:
    """The legacy form: the key is in the path. Malformed is 401; well-formed but unknown is 404."""
    if not is_well_formed(raw):
        raise Unauthorized(
            "Invalid license key format: expected CHA-XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX (or a gw_* key)"
        )
    if apikeys.get_key(key_id_for_hash(hash_key(raw))) is None:
        raise NotFound("License not found: no such license key")
    return authenticate(None, raw)


def history(caller: Caller, days: int, provider: str | None) -> UsageHistoryResponse:
    """Daily rollups of the key (per provider) over the last ``days`` days, and its latest usage records."""
    now = datetime.fromtimestamp(now_ts(), tz=UTC)
    start = now - timedelta(days=days)
    first_day, last_day = (now - timedelta(days=days - 1)).strftime("%Y-%m-%d"), now.strftime("%Y-%m-%d")
    scope, currency = f"key#{caller.key.key_id}", caller.plan.currency
    totals_by_day, providers_by_day, recent, cut_off = run_parallel([
        lambda: rollups.days(scope, first_day, last_day),
        lambda: rollups.breakdown(scope, "provider", first_day, last_day),
        lambda: usage.recent_for_key(caller.key.key_id, limit=RECENT_REQUESTS * (5 if provider else 1), since=iso(start)),
        rollups.complete_until,
    ])
    daily: dict[str, DayUsage] = {}
    for day in sorted(set(totals_by_day) | set(providers_by_day)):
        by_provider = {
            name: ProviderDay(requests=t.requests, tokens=t.total_tokens, cost=t.cost_in(currency),
                              avg_response_time=t.avg_latency_ms)
            for name, t in sorted(providers_by_day.get(day, {}).items())
            if provider is None or name == provider
        }
        if provider is not None:
            if provider not in providers_by_day.get(day, {}):
                continue
            day_totals = providers_by_day[day][provider]
        else:
            day_totals = totals_by_day.get(day, rollups.Totals())
        daily[day] = DayUsage(
            total_requests=day_totals.requests, total_tokens=day_totals.total_tokens,
            total_cost=day_totals.cost_in(currency), errors=day_totals.errors,
            avg_response_time=day_totals.avg_latency_ms, by_provider=by_provider,
        )
    recent_views = [
        RecentRequest(
            endpoint=str(r.get("endpoint", "")), provider=str(r.get("provider", "")), model=str(r.get("model", "")),
            tokens_used=int(r.get("total_tokens", 0)), cost=Decimal(str(r.get("cost", "0"))),
            response_time_ms=int(r.get("latency_ms", 0)), status=str(r.get("status", "success")),
            created_at=str(r.get("created_at", "")), ip_address=r.get("ip_address"),
            kind=str(r.get("kind", "request")), corrects=r.get("corrects"),
            in_summary=cut_off is not None and rollups.settled_before(r, cut_off),
        )
        for r in recent
        if provider is None or r.get("provider") == provider
    ][:RECENT_REQUESTS]
    total_requests = sum(d.total_requests for d in daily.values())
    return UsageHistoryResponse(
        license_key=caller.key.masked,
        period=Period(start=iso(start), end=iso(now), days=days),
        provider=provider,
        daily_usage=daily,
        recent_requests=recent_views,
        summary=HistorySummary(
            total_requests=total_requests,
            total_tokens=sum(d.total_tokens for d in daily.values()),
            total_cost=sum((d.total_cost for d in daily.values()), Decimal("0")),
            currency=currency,
            days_with_usage=sum(1 for d in daily.values() if d.total_requests),
            avg_requests_per_day=round(total_requests / days, 2),
            complete_until=iso(cut_off) if cut_off else None,
            rollup_lag_seconds=round(max((now - cut_off).total_seconds(), 0.0), 3) if cut_off else None,
        ),
    )
