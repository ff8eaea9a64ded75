"""Payments group: Stripe checkout and payment intents, trials, coupons, referrals."""
