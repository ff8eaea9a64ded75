"""Rollup job: the UsageTable stream turned into usage rollups (scheduled every minute)."""
