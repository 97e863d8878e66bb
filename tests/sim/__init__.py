"""Tests of the Spark simulator (scripts/sparksim)."""
