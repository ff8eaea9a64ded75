"""Account group: balance, API keys, plans."""
