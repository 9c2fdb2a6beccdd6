"""HTTP API and Prometheus metrics, served next to the dashboard.

Routes (tornado handlers in the same server as the Panel sessions, acting on
the same shared :class:`~arena.ui.hub.Hub`):

* ``GET /api/status`` — state, progress, speed, agents and the leaderboard (JSON);
* ``POST /api/start|pause|resume|step|stop|reset`` — run commands
  (``step?bars=N``; ``speed?value=X`` sets bars per second, 0 = as fast as
  possible); 200 ``{"ok": true, "status": ...}`` or a JSON error: 400 bad
  parameter, 401 not signed in, 403 not an operator, 404 unknown route,
  405 wrong method, 409 not allowed in the current state, 503 the engine failed;
* ``GET /metrics`` — Prometheus text format.

With authentication on, every route needs a signed-in user (Panel's signed
``user`` cookie, or an HTTP Basic ``Authorization`` header checked against the
server's basic-auth credentials) and commands need an operator
(:mod:`arena.ui.roles`). ``ROUTES`` lets plain ``panel serve app.py --plugins
arena.ui.api`` serve them too.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import os
from collections.abc import Callable
from http import HTTPStatus

from tornado.ioloop import IOLoop
from tornado.web import HTTPError, RequestHandler

from arena.ui.hub import Hub, shared_hub
from arena.ui.roles import auth_enabled, basic_auth_credentials, is_operator

log = logging.getLogger(__name__)

ACTIONS = ("start", "pause", "resume", "step", "stop", "reset", "speed")
STATES = ("idle", "running", "paused", "stopped", "finished")
MAX_STEP = 1_000_000
STEP_TIMEOUT = 30.0


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# -- values --------------------------------------------------------------------------
def _plain(value):
    """JSON-safe Python value: numpy scalars unwrapped, NaN/inf → None, times → ISO."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def status_payload(hub: Hub) -> dict:
    """The competition's status, agents and leaderboard as plain JSON values."""
    comp = hub.competition
    board = comp.leaderboard()
    rows = [{k: _plain(v) for k, v in row.items()} for row in board.to_dict("records")]
    status = {k: _plain(v) for k, v in comp.status().items()}
    return {**status, "agents": list(comp.agent_names), "data_source": comp.data_source,
            "sessions": hub.sessions, "version": hub.version, "leaderboard": rows}


def escape_label(value) -> str:
    r"""A Prometheus label value: backslash, double quote and newline escaped."""
    return str(value).replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _sample(value) -> str:
    if value is None:
        return "NaN"
    value = _plain(value)
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def metrics_text(hub: Hub) -> str:
    """The hub's competition in the Prometheus text exposition format (0.0.4)."""
    comp = hub.competition
    st = comp.status()
    board = comp.leaderboard()
    by_agent = {row["agent"]: row for row in board.to_dict("records")} if len(board) else {}
    cash = comp.config.portfolio.cash
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            tag = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{tag}}} {_sample(value)}" if tag else f"{name} {_sample(value)}")

    metric("arena_info", "gauge", "The competition on show (always 1).",
           [({"run_id": st["run_id"], "data_source": comp.data_source}, 1)])
    metric("arena_bars_processed", "gauge", "Bars processed in the current run.",
           [({}, st["bar"])])
    metric("arena_bars", "gauge", "Bars in the current run's data.", [({}, st["bars"])])
    metric("arena_progress_ratio", "gauge", "Share of the bars processed (0..1).",
           [({}, st["progress"])])
    metric("arena_bars_per_second", "gauge", "Bars processed per second, measured.",
           [({}, st["bars_per_second"])])
    metric("arena_speed_bars_per_second", "gauge",
           "Requested speed in bars per second (0 = as fast as possible).", [({}, st["speed"])])
    metric("arena_sessions", "gauge", "Browser sessions connected to this server.",
           [({}, hub.sessions)])
    metric("arena_state", "gauge", "1 for the competition's current state, 0 for the others.",
           [({"state": s}, int(s == st["state"])) for s in STATES])
    names = list(comp.agent_names)
    metric("arena_agent_equity", "gauge", "Equity per agent at the last processed close.",
           [({"agent": a}, by_agent.get(a, {}).get("equity", cash)) for a in names])
    metric("arena_agent_errors_total", "counter",
           "Decisions that failed (raised, timed out or invalid) per agent in this run.",
           [({"agent": a}, int(by_agent.get(a, {}).get("errors", 0))) for a in names])
    metric("arena_agent_trades_total", "counter", "Fills per agent in this run.",
           [({"agent": a}, int(by_agent.get(a, {}).get("trades", 0))) for a in names])
    return "\n".join(lines) + "\n"


# -- authentication ------------------------------------------------------------------
def check_password(credentials, user: str, password: str) -> bool:
    """Panel's basic-auth rule: a JSON file or dict of ``{user: password}``, or one
    password for any user name."""
    if isinstance(credentials, str) and os.path.isfile(credentials):
        try:
            with open(credentials, encoding="utf-8") as f:
                credentials = json.load(f)
        except (OSError, ValueError):
            log.error("cannot read the basic-auth credentials file %s", credentials)
            return False
    if isinstance(credentials, dict):
        expected = credentials.get(user)
        return isinstance(expected, str) and hmac.compare_digest(expected.encode(),
                                                                 password.encode())
    if isinstance(credentials, str) and credentials:
        return hmac.compare_digest(credentials.encode(), password.encode())
    return False


# -- handlers --------------------------------------------------------------------------
class _JsonHandler(RequestHandler):
    """Answers in JSON, errors included; never a traceback page."""

    def initialize(self, hub: Hub | Callable[[], Hub] | None = None) -> None:
        self._hub = hub

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            return shared_hub()
        return self._hub() if callable(self._hub) and not isinstance(self._hub, Hub) else self._hub

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def send_json(self, status: int, payload: dict) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload, allow_nan=False))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, HTTPError) and exc.log_message and status_code < 500:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code == 405:
            message = f"method {self.request.method} not allowed on {self.request.path}"
        else:
            message = HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ \
                else "error"
        if status_code == 405:
            self.set_header("Allow", ", ".join(self._allowed()))
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message}))

    def _allowed(self) -> list[str]:
        return ["GET"]

    def _user(self) -> str | None:
        """The authenticated user; raises 401 when auth is on and nobody is."""
        if not auth_enabled():
            return None
        import panel as pn

        header = self.request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            credentials = basic_auth_credentials()
            if scheme.lower() == "basic" and credentials:
                try:
                    user, sep, password = base64.b64decode(token.strip(), validate=True) \
                        .decode("utf-8").partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    raise ApiError(401, "malformed Authorization header") from None
                if sep and check_password(credentials, user, password):
                    return user
            raise ApiError(401, "wrong user name or password")
        if self.settings.get("cookie_secret"):
            raw = self.get_secure_cookie("user", max_age_days=pn.config.oauth_expiry)
            if raw:
                return raw.decode("utf-8", "replace")
        if pn.config.oauth_optional:  # guests may look, not operate
            return None
        raise ApiError(401, "sign in first (log in to the dashboard, or send HTTP Basic "
                            "credentials)")

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, ApiError):
            if exc.status == 401 and basic_auth_credentials():
                self.set_header("WWW-Authenticate", 'Basic realm="arena"')
            self.send_json(exc.status, {"error": str(exc)})
        else:
            log.exception("arena API: %s %s failed", self.request.method, self.request.path)
            self.send_json(503, {"error": f"the arena could not answer: "
                                          f"{type(exc).__name__}: {exc}"})


class ApiHandler(_JsonHandler):
    """``/api/...``: status (GET) and run commands (POST)."""

    def _allowed(self) -> list[str]:
        name = (self.path_args[0] if self.path_args else None) or ""
        return ["POST"] if name in ACTIONS else ["GET"]

    def _route(self, name: str | None) -> str:
        name = (name or "").strip("/")
        if name != "status" and name not in ACTIONS:
            raise ApiError(404, f"no such API route /api/{name}; have GET /api/status and "
                                f"POST /api/{{{','.join(ACTIONS)}}}")
        return name

    async def get(self, name: str | None = None) -> None:
        try:
            name = self._route(name)
            if name != "status":
                raise ApiError(405, f"use POST for /api/{name}")
            self._user()
            self.send_json(200, status_payload(self.hub))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON answer
            self._fail(exc)

    async def post(self, name: str | None = None) -> None:
        try:
            name = self._route(name)
            if name == "status":
                raise ApiError(405, "use GET for /api/status")
            user = self._user()
            if not is_operator(user):
                raise ApiError(403, f"{user or 'this user'} is not an operator "
                                    "(ARENA_OPERATORS)")
            act = self._command(name, self._params())
            hub = self.hub
            comp = hub.competition
            await IOLoop.current().run_in_executor(None, act, comp)
            hub.nudge()  # every page shows it one pull later, not a tick later
            self.send_json(200, {"ok": True, "action": name, "status": status_payload(hub)})
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON answer
            self._fail(self._map(exc))

    @staticmethod
    def _map(exc: Exception) -> Exception:
        from arena.engine import StateError

        if isinstance(exc, StateError):
            return ApiError(409, str(exc))
        if isinstance(exc, ValueError | TypeError) and not isinstance(exc, ApiError):
            return ApiError(400, str(exc))
        return exc

    def _params(self) -> dict[str, str]:
        """Query and form arguments, or a JSON object body."""
        params = {k: self.get_argument(k) for k in self.request.arguments}
        body = self.request.body.strip()
        ctype = self.request.headers.get("Content-Type", "")
        if body and "json" in ctype:
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "the request body is not valid JSON") from None
            if not isinstance(data, dict):
                raise ApiError(400, "the request body must be a JSON object")
            params.update({k: str(v) for k, v in data.items()})
        return params

    @staticmethod
    def _command(name: str, params: dict[str, str]):
        if name == "step":
            raw = params.get("bars", "1")
            try:
                bars = int(raw)
            except ValueError:
                raise ApiError(400, f"bars must be a whole number >= 1, got {raw!r}") from None
            if not 1 <= bars <= MAX_STEP:
                raise ApiError(400, f"bars must be in 1..{MAX_STEP}, got {bars}")
            return lambda c: c.step(bars, wait=True, timeout=STEP_TIMEOUT)
        if name == "speed":
            raw = params.get("value")
            if raw is None:
                raise ApiError(400, "speed needs value=BARS_PER_SECOND (0 = as fast as possible)")
            try:
                value = float(raw)
            except ValueError:
                raise ApiError(400, f"value must be a number >= 0, got {raw!r}") from None

            def set_speed(c):
                c.speed = value
            return set_speed
        return {"start": lambda c: c.start(), "pause": lambda c: c.pause(),
                "resume": lambda c: c.resume(), "stop": lambda c: c.stop(),
                "reset": lambda c: c.reset()}[name]


class MetricsHandler(_JsonHandler):
    """``GET /metrics`` in the Prometheus text format."""

    async def get(self) -> None:
        try:
            self._user()
            body = metrics_text(self.hub)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an answer
            self._fail(exc)
            return
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(body)


def routes(hub: Hub | Callable[[], Hub] | None = None) -> list[tuple]:
    """Tornado routes for the API and metrics (``hub``: default the shared hub)."""
    kw = {"hub": hub}
    return [(r"/api/?", ApiHandler, kw), (r"/api/(.*)", ApiHandler, kw),
            (r"/metrics/?", MetricsHandler, kw)]


#: for ``panel serve app.py --plugins arena.ui.api``
ROUTES = routes()
