"""IAM group (admin only): roles, per-user rate-limit overrides, the audit-log API."""
