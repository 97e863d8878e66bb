"""Benchmarks: ``make bench`` runs every one and prints its figures (speed is never a test)."""
