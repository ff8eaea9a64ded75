"""Stripe webhook: verified events move credits exactly once."""
