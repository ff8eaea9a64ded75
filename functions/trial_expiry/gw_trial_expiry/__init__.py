"""Scheduled job: closes free trials past their end."""
