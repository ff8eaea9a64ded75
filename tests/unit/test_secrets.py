"""A secret whose SSM parameter was never created is a setting not configured (None: callers answer 503), not a 500."""

from __future__ import annotations

import boto3
from moto import mock_aws

from gateway_common.secrets import get_secret


def test_missing_parameter_reads_as_not_configured_and_a_present_one_is_read(monkeypatch):
    monkeypatch.delenv("BOOT_SECRET", raising=False)
    monkeypatch.setenv("BOOT_SECRET_PARAM", "/ai-gateway/test/never-created")
    with mock_aws():
        assert get_secret("BOOT_SECRET") is None
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/ai-gateway/test/created", Value="s3cr3t-value", Type="SecureString")
        monkeypatch.setenv("BOOT_SECRET_PARAM", "/ai-gateway/test/created")
        assert get_secret("BOOT_SECRET") == "s3cr3t-value"


def test_secrets_read_from_ssm_are_masked_in_logs_and_settings_beside_them_are_not(monkeypatch):
    from gateway_common.redaction import redact

    monkeypatch.delenv("SOME_KEY", raising=False)
    monkeypatch.delenv("SOME_PRICE", raising=False)
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/ai-gateway/test/key", Value="vendor-Kq81Zr4Lm0Xw", Type="SecureString")
        ssm.put_parameter(Name="/ai-gateway/test/price", Value="price_1QsomePlanMonthly", Type="String")
        monkeypatch.setenv("SOME_KEY_PARAM", "/ai-gateway/test/key")
        monkeypatch.setenv("SOME_PRICE_PARAM", "/ai-gateway/test/price")
        assert get_secret("SOME_KEY") == "vendor-Kq81Zr4Lm0Xw"
        assert get_secret("SOME_PRICE", secret=False) == "price_1QsomePlanMonthly"
    assert redact("echo vendor-Kq81Zr4Lm0Xw") == "echo [provider key]"
    assert redact("price price_1QsomePlanMonthly not sold") == "price price_1QsomePlanMonthly not sold"
