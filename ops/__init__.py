"""Operator tools run against a deployed stack (docs/operations.md)."""
