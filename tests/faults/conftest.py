"""The fault suite delivers Stripe events as the payment tests do."""

from tests.payments.conftest import deliver, stripe_env  # noqa: F401
