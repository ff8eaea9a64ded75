// Credits (Stripe Checkout), coupons, referrals, the trial, the subscription, and the plans with the current one
// marked (a paid plan is a Stripe subscription: Subscribe opens Checkout in subscription mode; the plan changes only
// when Stripe reports the payment).
import { ApiError, get, post } from '../api.js';
import { busy, card, date, field, fill, formOf, h, input, money, notice, num, table } from '../ui.js';

// Stripe not configured (locally, without STRIPE_SECRET_KEY) is a 503: said plainly, not as a failure.
function paymentsOff(err) {
  if (err instanceof ApiError && err.status === 503) {
    return notice(`Payments are not set up on this gateway, so nothing can be bought here. (${err.message})`, 'warn');
  }
  throw err;
}

function subscriptionFacts(sub, currency) {
  if (!sub || sub.status === 'none') return h('p', { class: 'muted' }, 'No subscription: prepaid credits only.');
  return h('ul', { class: 'facts' },
    h('li', {}, `${sub.plan_name}: `, h('span', { class: `tag ${sub.status === 'active' ? 'on' : 'off'}` }, sub.status)),
    sub.current_period_end && h('li', {}, `${sub.cancel_at_period_end ? 'Ends' : 'Renews'} ${date(sub.current_period_end)}`),
    sub.next_invoice && h('li', {}, `Next invoice ${money(sub.next_invoice.amount, sub.next_invoice.currency || currency)}`),
    sub.pending_change && h('li', {}, `Changes to ${sub.pending_change.plan_name} on ${date(sub.pending_change.at)}`));
}

export async function render(ctx) {
  const [balance, plan, plans, trial, referral, stats, sub] = await Promise.all([
    get('user/balance'), get('user/plan'), get('plans'), get('trials/status'), get('referrals/code'), get('referrals/stats'),
    get('subscriptions/current'),
  ]);
  const currency = balance.currency;
  const here = new URL(location.href);
  here.hash = '#/billing';

  const amount = input({ type: 'number', name: 'amount', min: '1', max: '10000', step: '0.01', value: '10', required: true });
  const buy = formOf('Buy credits', [field(`Amount (${currency.toUpperCase()})`, amount, '1 credit per unit paid; 1.00 to 10000.00.')], 'Continue to payment', async () => {
    try {
      const checkout = await post('api/stripe/checkout', { amount: amount.value, success_url: here.href, cancel_url: here.href });
      location.assign(checkout.checkout_url);
      return notice('Opening Stripe Checkout…');
    } catch (err) {
      return paymentsOff(err);
    }
  });

  const coupon = input({ name: 'code', required: true, maxlength: 32, autocomplete: 'off' });
  const applyCoupon = formOf('Apply a coupon', [field('Coupon code', coupon)], 'Apply', async () => {
    const r = await post('coupons/apply', { code: coupon.value.trim() });
    return notice(r.message);
  });

  const refCode = input({ name: 'referral_code', required: true, maxlength: 16, autocomplete: 'off' });
  const applyReferral = formOf('Apply a referral code', [field('Referral code from a friend', refCode, 'Within 7 days of sign-up.')], 'Apply', async () => {
    const r = await post('referrals/apply', { referral_code: refCode.value.trim() });
    return notice(r.message);
  });

  const t = trial.trial;
  const trialBody = t
    ? h('div', {}, h('p', {}, h('span', { class: `tag ${t.is_active ? 'on' : 'off'}` }, t.status), ` ends ${date(t.end_date)}`),
      h('ul', { class: 'facts' },
        h('li', {}, `${money(t.remaining_credits, currency)} of ${money(t.credits, currency)} trial credits left`),
        h('li', {}, `${num(t.remaining_requests)} of ${num(t.max_requests)} requests left`)))
    : h('div', {}, h('p', {}, 'Try the gateway free for 3 days: 10.00 credits and 1000 requests (Free-plan accounts, once).'),
      formOf('Start the trial', [], 'Start the trial', async () => {
        await post('trials/start', {});
        ctx.refresh();
        return notice('Trial started.');
      }));

  const current = plan.plan;
  const planOut = h('div', { 'aria-live': 'polite' });
  const subscribe = (p) => {
    const button = h('button', { type: 'button', class: 'secondary', 'aria-label': `Subscribe to ${p.display_name}`, onclick: () => busy(button, planOut, async () => {
      try {
        const r = await post('subscriptions/checkout', { plan_id: p.slug, success_url: here.href, cancel_url: here.href });
        if (r.checkout_url) {
          location.assign(r.checkout_url);
          return fill(planOut, notice('Opening Stripe Checkout…'));
        }
        return fill(planOut, notice(`${p.display_name} from ${date(r.takes_effect)}.`));
      } catch (err) {
        return fill(planOut, paymentsOff(err));
      }
    }) }, 'Subscribe');
    return button;
  };
  const plansTable = table([
    { label: 'Plan', render: (p) => h('span', {}, p.display_name, p.slug === current.slug ? h('span', { class: 'tag on', 'aria-label': '(your plan)' }, 'current') : null) },
    { label: 'Price / month', num: true, render: (p) => money(p.monthly_price, p.currency) },
    { label: 'Requests / min', num: true, render: (p) => num(p.requests_per_minute) },
    { label: 'Requests / month', num: true, render: (p) => num(p.monthly_request_limit) },
    { label: 'Budget', num: true, render: (p) => (p.monthly_budget == null ? 'prepaid credits' : money(p.monthly_budget, p.currency)) },
    { label: 'Features', render: (p) => (p.features || []).join(', ') },
    { label: 'Subscription', render: (p) => (p.slug === current.slug ? h('span', { class: 'muted' }, 'your plan')
      : Number(p.monthly_price) > 0 ? subscribe(p) : '—') },
  ], plans.data, { caption: 'Plans' });

  return h('div', {},
    h('h1', {}, 'Billing'),
    h('div', { class: 'grid' },
      card('Credits', h('p', { class: 'big' }, money(balance.credits), ' ', h('span', { class: 'unit' }, currency.toUpperCase())), buy),
      card('Coupon', applyCoupon),
      card('Trial', trialBody)),
    h('div', { class: 'grid' },
      card('Refer a friend',
        h('p', {}, 'Your code ', h('code', { id: 'referral-code' }, referral.referral_code)),
        h('ul', { class: 'facts' },
          h('li', {}, `${num(stats.total_referrals)} referred, ${num(stats.active_referrals)} active`),
          h('li', {}, `${money(stats.total_rewards, currency)} earned, ${money(stats.pending_rewards, currency)} pending`))),
      card('Were you referred?', applyReferral)),
    h('section', { class: 'card wide', 'aria-labelledby': 'plans-h' }, h('h2', { id: 'plans-h' }, 'Plans'),
      h('div', { id: 'subscription' }, subscriptionFacts(sub, currency)), plansTable, planOut,
      h('p', { class: 'muted small' }, 'Paid plans are subscriptions; AI usage is paid from credits on every plan.')));
}

