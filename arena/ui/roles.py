"""Who may operate the competition: everyone without authentication, otherwise
only the users named in ``ARENA_OPERATORS`` (comma-separated).

Authentication is on when the server runs with Panel's basic auth
(``--basic-auth``) or an OAuth provider (``--oauth-provider``), or when a
session carries a signed-in user. Viewers who are not operators see the
dashboard read-only; the control panel and the HTTP API enforce the same rule
on the server.
"""

from __future__ import annotations

import os

OPERATORS_ENV = "ARENA_OPERATORS"


def operators() -> frozenset[str]:
    """The user names in ``ARENA_OPERATORS`` (blank entries ignored)."""
    raw = os.environ.get(OPERATORS_ENV, "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def basic_auth_credentials() -> str | dict | None:
    """The basic-auth setting the server checks logins against: a password, a
    path to a JSON file of ``{"user": "password"}``, or None when basic auth is off."""
    import panel as pn
    from panel.io.state import state

    for server_config in list(state._server_config.values()):  # pn.serve(basic_auth=...)
        if server_config.get("basic_auth"):
            return server_config["basic_auth"]
    return pn.config.basic_auth or None  # panel serve --basic-auth / PANEL_BASIC_AUTH


def auth_enabled() -> bool:
    """True when the server authenticates its users (basic auth or OAuth)."""
    import panel as pn

    if basic_auth_credentials() or pn.config.oauth_provider:
        return True
    return current_user() is not None


def current_user() -> str | None:
    """The signed-in user of the current session (None without auth or outside one)."""
    import panel as pn

    try:
        return pn.state.user
    except Exception:  # noqa: BLE001 - no session or no cookies: nobody is signed in
        return None


def is_operator(user: str | None) -> bool:
    """May ``user`` start, stop and reconfigure the competition?"""
    if not auth_enabled():
        return True
    return user is not None and user in operators()


def read_only_note(user: str | None) -> str:
    """Why the controls are disabled for ``user`` (plain text)."""
    if user is None:
        return "read-only: not signed in"
    return f"read-only: signed in as {user} (not an operator)"
