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
