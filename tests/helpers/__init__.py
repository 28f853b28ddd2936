"""Shared helpers for the collection's pytest suites."""
