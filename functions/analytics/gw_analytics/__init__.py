"""Analytics group: activity log and stats, model rankings, admin monitor and transaction analytics."""
