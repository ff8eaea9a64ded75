"""The fault suite delivers Stripe events as the payment tests do."""

from tests.payments.conftest import billing_api, deliver, make_user, stripe_env  # noqa: F401
