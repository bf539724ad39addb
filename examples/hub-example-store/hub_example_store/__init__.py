"""A second online-store channel for the hub, written against ``hub.api`` only."""
