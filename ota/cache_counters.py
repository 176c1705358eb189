"""Counters in Django's cache: fleet-wide on Redis, per process on the embedded default. Pure
apart from the cache it is given."""

from django.core.cache import BaseCache


def count_one(cache: BaseCache, key: str, *, timeout: float) -> int:
    """Add one to the counter `key` (started at 1, kept `timeout` seconds, if it is not there)
    and answer the new count: one cache round trip, except for a counter's first use."""
    try:
        return cache.incr(key)
    except ValueError:  # the first, unless another process got there first
        return 1 if cache.add(key, 1, timeout) else cache.incr(key)
