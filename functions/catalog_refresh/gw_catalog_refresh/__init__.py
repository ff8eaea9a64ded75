"""Scheduled job: refresh the model catalog from the providers' model lists."""
