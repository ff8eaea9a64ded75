"""Public health endpoints."""
