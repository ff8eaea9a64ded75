"""Auth group: Privy sign-in (POST /auth/privy) issuing expiring session keys."""
