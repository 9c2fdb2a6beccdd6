"""The HTTP API and metrics of `arena serve`: a real server in a subprocess,
driven over HTTP (urllib), with and without basic auth. Plus the Prometheus
formatting, checked without a server."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from types import SimpleNamespace

import pytest

from arena.agents import Agent, Decision
from arena.data import synthetic
from arena.engine import Competition, CompetitionConfig
from arena.ui.api import escape_label, metrics_text
from tests.serverlogs import watch

CONFIG_TOML = """
[data]
symbols = ["IBM"]
start = "2012-01-01"

[[agents]]
agent = "sma_cross"

[[agents]]
agent = "momentum"
"""
CREDENTIALS = {"alice": "alice-pass", "bob": "bob-pass"}
STATUS_KEYS = {"state", "bar", "bars", "time", "progress", "speed", "bars_per_second",
               "run_id", "agents", "leaderboard"}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


# -- a Prometheus text parser, small but strict -----------------------------------
def parse_prometheus(text: str) -> dict[str, dict]:
    """``{family: {"help", "type", "samples": [(labels, value)]}}``; raises on bad lines."""
    families: dict[str, dict] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, kind, name, rest = line.split(" ", 3)
            fam = families.setdefault(name, {"samples": []})
            fam[kind.lower()] = rest
            continue
        assert not line.startswith("#") and line.strip(), f"unexpected line {line!r}"
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, _, body, value = m.groups()
        labels = {}
        if body:
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1),
                                                                                 e.group(1)),
                                             lm.group(2))
                pos = lm.end()
        number = {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}.get(value)
        families[name]["samples"].append((labels, float(value) if number is None else number))
    for name, fam in families.items():
        assert "help" in fam and fam.get("type") in ("gauge", "counter"), name
    return families


# -- formatting, no server -------------------------------------------------------
def test_escape_label_follows_the_prometheus_rules():
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_label("plain") == "plain"


class Quoted(Agent):
    description = "holds; has an awkward name"

    def label(self) -> str:
        return 'say "hi"\\ now\nplease'

    def decide(self, obs):
        return Decision.hold()


def test_metrics_text_parses_and_escapes_agent_names():
    comp = Competition(synthetic(("AAA",), bars=30), [Quoted(), "buy_and_hold"],
                       CompetitionConfig(record=False))
    comp.step(5)
    try:
        fams = parse_prometheus(metrics_text(SimpleNamespace(competition=comp, sessions=3)))
    finally:
        comp.stop()
    equity = {lab["agent"]: v for lab, v in fams["arena_agent_equity"]["samples"]}
    assert set(equity) == {'say "hi"\\ now\nplease', "buy_and_hold"}
    assert fams["arena_bars_processed"]["samples"] == [({}, 5.0)]
    assert fams["arena_sessions"]["samples"] == [({}, 3.0)]
    assert fams["arena_agent_errors_total"]["type"] == "counter"
    states = {lab["state"]: v for lab, v in fams["arena_state"]["samples"]}
    assert states == {"idle": 0, "running": 0, "paused": 1, "stopped": 0, "finished": 0}


# -- a real server -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """Minimal HTTP client over urllib: (status, headers, body)."""

    def __init__(self, base: str, auth: tuple[str, str] | None = None, opener=None):
        self.base, self.auth = base, auth
        self.opener = opener or urllib.request.build_opener(NoRedirect)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=dict(headers or {}))
        if self.auth:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, method: str, path: str, **kw):
        status, headers, body = self.request(method, path, **kw)
        assert headers["Content-Type"].startswith("application/json"), (status, body[:200])
        return status, json.loads(body)

    def get(self, path):
        return self.json("GET", path)

    def post(self, path, **kw):
        return self.json("POST", path, body=kw.pop("body", b""), **kw)


def start_server(tmp, *flags: str, command: tuple[str, ...] | None = None
                 ) -> tuple[subprocess.Popen, str]:
    """``arena serve`` on CONFIG_TOML at 5 bars/s (or ``command``, e.g. ``arena
    replay``), ready; its log is watched for errors (tests/serverlogs.py)."""
    port = free_port()
    if command is None:
        config = tmp / "run.toml"
        config.write_text(CONFIG_TOML)
        command = ("-m", "arena.server", "--config", str(config), "--speed", "5")
    env = {**os.environ, "ARENA_RUN_DIR": str(tmp / "runs")}
    for key in ("ARENA_CONFIG", "ARENA_OPERATORS", "ARENA_SPEED", "PANEL_BASIC_AUTH",
                "PANEL_OAUTH_PROVIDER", "PANEL_COOKIE_SECRET", "BOKEH_COOKIE_SECRET"):
        env.pop(key, None)
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed by the finaliser
    proc = subprocess.Popen(
        [sys.executable, *command, "--port", str(port), "--no-show", *flags],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp, start_new_session=True)
    proc.log = log
    proc.watched = watch(tmp / "server.log", f"{command[1]} on port {port}")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.flush()
            pytest.fail(f"server exited with {proc.returncode}:\n{(tmp / 'server.log').read_text()}")
        try:
            urllib.request.urlopen(base + "/api/status", timeout=2).close()
            break
        except urllib.error.HTTPError:  # 401 with auth on: it answers
            break
        except OSError:
            time.sleep(0.25)
    else:
        stop_server(proc)
        pytest.fail("server did not answer /api/status within 120 s")
    return proc, base


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    proc.log.close()
    proc.watched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, base = start_server(tmp_path_factory.mktemp("serve"))
    yield Client(base)
    stop_server(proc)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-auth")
    creds = tmp / "credentials.json"
    creds.write_text(json.dumps(CREDENTIALS))
    proc, base = start_server(tmp, "--basic-auth", str(creds), "--operators", "alice",
                              "--cookie-secret", "test-cookie-secret-0123456789")
    yield base
    stop_server(proc)


REPLAY_BARS = 300


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory):
    """`arena replay` on a finished recording of the same two agents (the README's
    replay command)."""
    tmp = tmp_path_factory.mktemp("replay")
    comp = Competition(synthetic(("AAA", "BBB"), bars=REPLAY_BARS, seed=3),
                       ["sma_cross:fast=5,slow=20", "momentum"],
                       CompetitionConfig(run_dir=str(tmp / "runs"), seed=3))
    comp.run()
    proc, base = start_server(tmp, command=("-m", "arena.cli", "replay", comp.run_id,
                                                "--run-dir", str(tmp / "runs")))
    yield Client(base)
    stop_server(proc)


@pytest.mark.slow
def test_status_has_the_documented_shape(server):
    status, body = server.get("/api/status")
    assert status == 200
    assert set(body) >= STATUS_KEYS
    assert body["state"] == "idle" and body["bar"] == 0 and body["time"] is None
    assert body["agents"] == ["sma_cross", "momentum"]
    assert body["speed"] == 5.0 and body["bars"] > 100
    assert isinstance(body["leaderboard"], list)


@pytest.mark.slow
def test_commands_drive_the_competition(server):
    status, body = server.post("/api/pause")
    assert (status, body) == (409, {"error": "cannot pause: the competition is idle"})

    status, body = server.post("/api/start")
    assert status == 200 and body["ok"] is True and body["status"]["state"] == "running"
    assert server.post("/api/start")[0] == 409

    status, body = server.post("/api/pause")
    assert status == 200 and body["status"]["state"] == "paused"
    bar = server.get("/api/status")[1]["bar"]

    status, body = server.post("/api/step")
    assert status == 200 and body["status"]["bar"] == bar + 1
    time.sleep(0.5)
    after = server.get("/api/status")[1]
    assert after["bar"] == bar + 1 and after["state"] == "paused"
    assert len(after["leaderboard"]) == 2
    assert {"agent", "equity", "rank"} <= set(after["leaderboard"][0])

    status, body = server.post("/api/step?bars=3")
    assert status == 200 and body["status"]["bar"] == bar + 4

    status, body = server.post("/api/resume")
    assert status == 200 and body["status"]["state"] == "running"

    status, body = server.post("/api/stop")
    assert status == 200 and body["status"]["state"] in ("stopped", "finished")
    status, body = server.post("/api/resume")
    assert status == 409 and body["error"].startswith("cannot resume: the competition is")

    run_id = server.get("/api/status")[1]["run_id"]
    status, body = server.post("/api/reset")
    assert status == 200 and body["status"]["state"] == "idle"
    assert body["status"]["bar"] == 0 and body["status"]["run_id"] != run_id


@pytest.mark.slow
@pytest.mark.parametrize("served", ["server", "replay_server"])
@pytest.mark.parametrize(("method", "path", "code"), [
    ("GET", "/api/nope", 404), ("POST", "/api/launch", 404), ("GET", "/api", 404),
    ("GET", "/api/start", 405), ("POST", "/api/status", 405), ("DELETE", "/api/status", 405),
    ("PUT", "/metrics", 405),
    ("POST", "/api/step?bars=abc", 400), ("POST", "/api/step?bars=0", 400),
    ("POST", "/api/speed?value=fast", 400), ("POST", "/api/speed", 400),
])
def test_bad_requests_get_json_errors(request, served, method, path, code):
    server = request.getfixturevalue(served)
    status, body = server.json(method, path, body=b"" if method in ("POST", "PUT") else None)
    assert status == code
    assert set(body) == {"error"} and body["error"]


@pytest.mark.slow
def test_malformed_json_body_is_a_400(server):
    status, body = server.post("/api/step", body=b"{bars: 2",
                               headers={"Content-Type": "application/json"})
    assert (status, body) == (400, {"error": "the request body is not valid JSON"})


@pytest.mark.slow
def test_speed_is_set_over_the_api(server):
    status, body = server.post("/api/speed", body=json.dumps({"value": 100}).encode(),
                               headers={"Content-Type": "application/json"})
    assert status == 200 and body["status"]["speed"] == 100.0
    assert server.post("/api/speed?value=5")[1]["status"]["speed"] == 5.0


@pytest.mark.slow
def test_metrics_are_prometheus_text(server):
    server.post("/api/reset")
    server.post("/api/step?bars=2")

    status, headers, body = server.request("GET", "/metrics")

    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = parse_prometheus(body.decode())
    assert fams["arena_bars_processed"]["samples"] == [({}, 2.0)]
    assert {lab["agent"] for lab, _ in fams["arena_agent_equity"]["samples"]} == {
        "sma_cross", "momentum"}
    assert {lab["agent"]: v for lab, v in fams["arena_agent_errors_total"]["samples"]} == {
        "sma_cross": 0.0, "momentum": 0.0}
    states = {lab["state"]: v for lab, v in fams["arena_state"]["samples"]}
    assert states["paused"] == 1 and sum(states.values()) == 1
    assert fams["arena_sessions"]["samples"] == [({}, 0.0)]
    assert "arena_bars_per_second" in fams


# -- arena replay: the same API on a recording ---------------------------------------------
@pytest.mark.slow
def test_replay_status_has_the_documented_shape(replay_server):
    status, body = replay_server.get("/api/status")
    assert status == 200
    assert set(body) >= STATUS_KEYS
    assert body["mode"] == "replay" and body["recording"] == "finished"
    assert body["bar"] == 0 and body["bars"] == REPLAY_BARS and body["time"] is None
    assert body["agents"] == ["sma_cross(fast=5)", "momentum"]


@pytest.mark.slow
def test_replay_commands_answer_2xx_or_4xx_and_take_effect(replay_server):
    server = replay_server
    status, body = server.post("/api/step?bars=3")
    assert status == 200 and body["status"]["bar"] == 3
    assert server.get("/api/status")[1]["bar"] == 3

    status, body = server.post("/api/speed?value=0")
    assert status == 200 and body["status"]["speed"] == 0.0
    status, body = server.post("/api/start")
    assert status == 200 and body["status"]["mode"] == "replay"
    assert server.post("/api/step")[0] in (200, 409)  # playing (409) or already at the end
    end = time.monotonic() + 30
    while server.get("/api/status")[1]["state"] != "finished" and time.monotonic() < end:
        time.sleep(0.1)
    after = server.get("/api/status")[1]
    assert after["state"] == "finished" and after["bar"] == REPLAY_BARS
    assert server.post("/api/pause")[0] == 409  # nothing plays

    status, body = server.post("/api/reset")
    assert status == 200 and body["status"]["bar"] == 0
    status, body = server.post("/api/step?bars=2")
    assert status == 200 and body["status"]["bar"] == 2
    assert server.request("GET", "/metrics")[0] == 200

    status, body = server.post("/api/stop")
    assert status == 200 and body["status"]["state"] == "stopped"
    for action in ("start", "resume", "step", "reset"):
        status, body = server.post(f"/api/{action}")
        assert status == 409, (action, status, body)
        assert body["error"].startswith("cannot "), body
    assert server.get("/api/status")[0] == 200


# -- with basic auth and operators ---------------------------------------------------------
@pytest.mark.slow
def test_without_credentials_the_api_answers_401(auth_server):
    anon = Client(auth_server)
    status, headers, _ = anon.request("POST", "/api/start", body=b"")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    assert anon.get("/api/status")[0] == 401
    assert anon.request("GET", "/metrics")[0] == 401
    assert Client(auth_server, ("alice", "wrong")).post("/api/start")[0] == 401


@pytest.mark.slow
def test_the_dashboard_redirects_to_the_login_page(auth_server):
    status, headers, _ = Client(auth_server).request("GET", "/app")
    assert status == 302 and "login" in headers["Location"]


@pytest.mark.slow
def test_a_viewer_may_look_but_not_operate(auth_server):
    bob = Client(auth_server, ("bob", "bob-pass"))
    status, body = bob.post("/api/start")
    assert status == 403 and "not an operator" in body["error"]
    status, body = bob.get("/api/status")
    assert status == 200 and body["state"] == "idle"
    assert bob.request("GET", "/metrics")[0] == 200


@pytest.mark.slow
def test_an_operator_operates_by_basic_header_and_by_login_cookie(auth_server):
    alice = Client(auth_server, ("alice", "alice-pass"))
    status, body = alice.post("/api/start")
    assert status == 200 and body["status"]["state"] == "running"

    jar = http.cookiejar.CookieJar()
    browser = Client(auth_server, opener=urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), NoRedirect))
    form = urllib.parse.urlencode({"username": "alice", "password": "alice-pass"}).encode()
    status, _, _ = browser.request("POST", "/login", body=form)
    assert status == 302 and any(c.name == "user" for c in jar)
    status, body = browser.post("/api/pause")
    assert status == 200 and body["status"]["state"] == "paused"

    jar.clear()
    browser.request("POST", "/login", body=urllib.parse.urlencode(
        {"username": "bob", "password": "bob-pass"}).encode())
    assert browser.post("/api/resume")[0] == 403
    assert alice.get("/api/status")[1]["state"] == "paused"


# -- flags, no server ----------------------------------------------------------------
def serve_args(*argv: str):
    import argparse

    from arena.server import add_serve_parser

    sub = argparse.ArgumentParser(prog="arena").add_subparsers(dest="command")
    add_serve_parser(sub)
    return sub.choices["serve"].parse_args(list(argv))


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("PANEL_BASIC_AUTH", "PANEL_OAUTH_PROVIDER", "PANEL_OAUTH_KEY",
                "ARENA_COOKIE_SECRET"):
        monkeypatch.delenv(key, raising=False)


def test_a_server_process_collects_garbage_seldom_and_skips_what_start_up_made():
    # Arrange
    import gc

    from arena.server import GC_THRESHOLDS, _tune_gc

    before = gc.get_threshold()
    try:
        # Act: what arena serve and arena replay do before serving
        _tune_gc()

        # Assert: young collections every 50,000 allocations, start-up's objects frozen
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] >= 10_000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_serve_defaults_bind_locally_without_auth(clean_env):
    from arena.server import _server_options

    opts = _server_options(serve_args())
    assert opts["address"] == "127.0.0.1" and opts["port"] == 5006 and opts["show"] is False
    assert opts["websocket_origin"] == ["localhost:5006", "127.0.0.1:5006"]
    assert "basic_auth" not in opts and "cookie_secret" not in opts


def test_basic_auth_file_is_checked_and_made_absolute(clean_env, tmp_path, monkeypatch):
    from arena.server import _server_options

    monkeypatch.chdir(tmp_path)
    (tmp_path / "creds.json").write_text(json.dumps(CREDENTIALS))
    opts = _server_options(serve_args("--basic-auth", "creds.json", "--cookie-secret", "abc"))
    assert opts["basic_auth"] == str(tmp_path / "creds.json")
    assert opts["cookie_secret"] == "abc"


@pytest.mark.parametrize(("content", "message"), [
    (None, "file not found"),
    ("{not json", "not valid JSON"),
    ('["alice"]', "expected a JSON object of user names to passwords"),
    ('{"alice": 123}', "expected a JSON object of user names to passwords"),
])
def test_bad_basic_auth_files_are_refused(clean_env, tmp_path, content, message):
    from arena.config import ConfigError
    from arena.server import _server_options

    path = tmp_path / "creds.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as err:
        _server_options(serve_args("--basic-auth", str(path)))
    assert "creds.json" in str(err.value)


def test_oauth_needs_a_client_id(clean_env):
    from arena.config import ConfigError
    from arena.server import _server_options

    with pytest.raises(ConfigError, match="--oauth-key or PANEL_OAUTH_KEY"):
        _server_options(serve_args("--oauth-provider", "github"))


def test_basic_auth_and_oauth_together_are_refused(clean_env):
    from arena.config import ConfigError
    from arena.server import _server_options

    with pytest.raises(ConfigError, match="not both"):
        _server_options(serve_args("--basic-auth", "pw", "--oauth-provider", "github"))
