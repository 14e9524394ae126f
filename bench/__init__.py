"""Benchmarks: ``make bench`` (``python -m bench``). Loopback only; every loop bounded."""
