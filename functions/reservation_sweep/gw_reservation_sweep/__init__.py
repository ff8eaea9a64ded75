"""Scheduled job: release reservations of crashed invocations."""
