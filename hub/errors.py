"""Exceptions shared by the core and plugins."""

from __future__ import annotations


class HubError(Exception):
    """Base class for errors the hub reports to a person."""


class ConfigError(HubError):
    """The configuration is invalid. ``key`` is the dotted path of the offending setting."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class StartupError(HubError):
    """The hub cannot start (for example an enabled plugin is not installed)."""


class PluginNotConfigured(HubError):
    """Raised from ``hub_startup`` when required settings are missing. Not retried."""


class PluginNotReady(HubError):
    """Raised from ``hub_startup`` when a dependency is down. Start-up is retried with backoff."""


class PluginAuthFailed(HubError):
    """Raised from ``hub_startup`` when credentials are refused. Not retried until settings change."""


class InputError(HubError):
    """Bad input from an API caller. ``field`` names what was wrong; becomes a 4xx response."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status
