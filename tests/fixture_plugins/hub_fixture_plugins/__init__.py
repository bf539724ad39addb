"""Plugins that fail on purpose, for the hub's isolation tests."""
