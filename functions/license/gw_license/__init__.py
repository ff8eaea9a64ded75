"""License group: the usage/limits API under /api (X-License-Key)."""
