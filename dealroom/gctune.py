"""Garbage-collector settings for long-running processes (the web server, the tracking writer)."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """For long-running servers: a big room page allocates thousands of short-lived objects, and
    the default thresholds then run full collections in the middle of requests (the p95 of the
    200-item room page was 2-3x its median; see bench/room_render.py). Objects that live for the
    whole process are frozen out of collection and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
