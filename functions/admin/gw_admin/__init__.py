"""Admin group: accounts and credits (admin role only)."""
