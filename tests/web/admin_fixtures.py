"""Logging in to the admin over real HTTP: the helpers plugin authors get from hub.testing,
under the names the hub's own tests have always used."""

from __future__ import annotations

from hub.testing import admin_login as login
from hub.testing import csrf_of, post_form

__all__ = ["csrf_of", "login", "post_form"]
