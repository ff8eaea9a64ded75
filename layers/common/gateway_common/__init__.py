"""Code shared by every function of the gateway (the Lambda layer)."""

__version__ = "2.1.0"
