"""CAST: head-level conflict diagnosis, then safety tuning that skips high-conflict heads."""
