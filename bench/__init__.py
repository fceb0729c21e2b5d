"""Benchmarks of jobsite against the stack it stands on (docs/benchmarks.md)."""
