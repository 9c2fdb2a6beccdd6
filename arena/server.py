"""``arena serve``: the dashboard plus the HTTP API and metrics, in one server.

Serves the same dashboard as ``panel serve app.py`` (at ``/app``; ``/``
redirects there) with ``/api/...`` and ``/metrics`` (:mod:`arena.ui.api`) in
the same tornado application, all acting on the one shared competition of the
process. Binds to 127.0.0.1 unless told otherwise. See docs/serving.md.

Run it as ``arena serve ...`` or ``python -m arena.server ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from arena.config import ConfigError, load_config

DEFAULT_PORT = 5006


def _add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", metavar="CONFIG.toml",
                   help="the run configuration shown at start (sets ARENA_CONFIG)")
    p.add_argument("--run-dir", help="where recordings go (sets ARENA_RUN_DIR; default ./runs)")
    p.add_argument("--speed", type=float,
                   help="starting speed in bars per second, 0 = as fast as possible")
    p.add_argument("--exchange-config", metavar="JSON",
                   help="ccxt constructor arguments (a JSON object or file, as for `arena "
                        "live`) for live runs: a config's [live] table and the dashboard's "
                        "\"Live exchange\" source use them (sets ARENA_EXCHANGE_CONFIG)")
    p.add_argument("--sweep", metavar="DIR",
                   help="also serve a sweep's results folder (`arena sweep --out DIR`) at "
                        "/sweep: its progress, live, and its heatmap, ranking and downloads")
    return _add_serving_arguments(p)


def _add_serving_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Where and to whom the dashboard is served (``arena serve`` and ``arena replay``)."""
    p.add_argument("--address", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 5006)")
    p.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST[:PORT]",
                   help="a host the browser may connect from (repeatable); default "
                        "localhost:PORT and 127.0.0.1:PORT")
    p.add_argument("--operators", metavar="alice,bob",
                   help="users who may operate when authentication is on (sets ARENA_OPERATORS)")
    p.add_argument("--basic-auth", metavar="FILE_OR_PASSWORD",
                   help="turn on Panel's basic auth: a JSON file {\"user\": \"password\"} or one "
                        "shared password")
    p.add_argument("--cookie-secret",
                   help="secret that signs login cookies (default: $ARENA_COOKIE_SECRET, else a "
                        "random one, so logins end when the server restarts)")
    p.add_argument("--oauth-provider", help="Panel OAuth provider (github, google, azure, ...)")
    p.add_argument("--oauth-key", help="OAuth client id (or $PANEL_OAUTH_KEY)")
    p.add_argument("--oauth-secret", help="OAuth client secret (or $PANEL_OAUTH_SECRET)")
    p.add_argument("--oauth-redirect-uri", help="OAuth redirect URI, if not the server's own")
    p.add_argument("--oauth-extra-params", metavar="JSON",
                   help="extra OAuth parameters as a JSON object")
    p.add_argument("--oauth-encryption-key",
                   help="key encrypting OAuth tokens in cookies (or $PANEL_OAUTH_ENCRYPTION)")
    p.add_argument("--admin", action="store_true", help="add Panel's admin page at /admin")
    p.add_argument("--show", action=argparse.BooleanOptionalAction, default=False,
                   help="open a browser tab (default --no-show)")
    return p


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``serve`` sub-command to the ``arena`` command's sub-parsers."""
    p = subparsers.add_parser(
        "serve", help="serve the live dashboard with its HTTP API and metrics",
        description="Serve the dashboard (/app), the API (/api/status, POST /api/start ...) "
                    "and Prometheus metrics (/metrics) on one port.")
    return _add_arguments(p)


def add_replay_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``replay`` sub-command to the ``arena`` command's sub-parsers."""
    p = subparsers.add_parser(
        "replay", help="serve the dashboard in replay mode on a recording",
        description="Serve the dashboard (/app) on a recording: play, pause, step, speed and "
                    "a scrubber to seek anywhere; a run picker opens other recordings; the "
                    "API (/api/status, POST /api/start|pause|step ...) and /metrics as for "
                    "`arena serve`.")
    p.add_argument("run", help="a run id under --run-dir, a run directory or its arena.sqlite")
    p.add_argument("--run-dir", default="runs", help="where the recordings are (default ./runs)")
    p.add_argument("--at", default="0", metavar="BAR|end",
                   help="the position to open at: bars shown, or 'end' (default 0)")
    return _add_serving_arguments(p)


def basic_auth_setting(value: str) -> str:
    """Check ``--basic-auth``: an existing JSON credentials file (returned as an
    absolute path) or a password; a name that looks like a missing file is refused."""
    path = Path(value).expanduser()
    if path.is_file():
        try:
            creds = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--basic-auth {value}: cannot read the file: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"--basic-auth {value}: not valid JSON: {exc}") from None
        if not (isinstance(creds, dict) and creds
                and all(isinstance(k, str) and isinstance(v, str) for k, v in creds.items())):
            raise ConfigError(f"--basic-auth {value}: expected a JSON object of user names to "
                              'passwords, e.g. {"alice": "secret"}')
        return str(path.resolve())
    if value.lower().endswith(".json") or os.sep in value:
        raise ConfigError(f"--basic-auth {value}: file not found (give a JSON credentials file "
                          "or a password)")
    if not value:
        raise ConfigError("--basic-auth needs a credentials file or a password")
    return value


def _server_options(args) -> dict:
    """Keyword arguments for ``pn.serve`` from the parsed flags."""
    opts: dict = {"port": args.port, "address": args.address, "show": args.show,
                  "admin": args.admin}
    origins = list(args.allow_websocket_origin)
    if not origins:
        origins = [f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
        if args.address not in ("127.0.0.1", "localhost", "::1"):
            print(f"arena: listening on {args.address}, but browsers are only accepted from "
                  "localhost; add --allow-websocket-origin HOST:PORT for the name people use",
                  file=sys.stderr)
    opts["websocket_origin"] = origins
    basic = args.basic_auth or os.environ.get("PANEL_BASIC_AUTH")
    provider = args.oauth_provider or os.environ.get("PANEL_OAUTH_PROVIDER")
    if basic and provider:
        raise ConfigError("give --basic-auth or --oauth-provider, not both")
    auth = bool(basic or provider)
    if basic:
        opts["basic_auth"] = basic_auth_setting(basic)
    if provider:
        opts["oauth_provider"] = provider
        _configure_oauth(args)
    for name in ("oauth_key", "oauth_secret", "oauth_redirect_uri"):
        if getattr(args, name):
            opts[name] = getattr(args, name)
    if args.oauth_extra_params:
        try:
            extra = json.loads(args.oauth_extra_params)
        except ValueError as exc:
            raise ConfigError(f"--oauth-extra-params: not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise ConfigError("--oauth-extra-params must be a JSON object")
        opts["oauth_extra_params"] = extra
    if auth:
        opts["cookie_secret"] = (args.cookie_secret or os.environ.get("ARENA_COOKIE_SECRET")
                                 or secrets.token_urlsafe(32))
    return opts


def _configure_oauth(args) -> None:
    """What ``panel serve`` does for OAuth beyond ``pn.serve``: check the client id
    and install the cookie encryption key (``--oauth-encryption-key`` or
    ``PANEL_OAUTH_ENCRYPTION``, made with ``panel oauth-secret``)."""
    import base64

    import panel as pn
    from panel.io.state import state

    if not (args.oauth_key or os.environ.get("PANEL_OAUTH_KEY")):
        raise ConfigError("--oauth-provider needs the OAuth client id: --oauth-key or "
                          "PANEL_OAUTH_KEY")
    key = args.oauth_encryption_key or os.environ.get("PANEL_OAUTH_ENCRYPTION")
    if not key:
        print("arena: OAuth without an encryption key stores tokens unencrypted in cookies; "
              "make one with `panel oauth-secret` (--oauth-encryption-key)", file=sys.stderr)
        return
    try:
        ok = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        ok = False
    if not ok:
        raise ConfigError("--oauth-encryption-key must be 32 url-safe base64-encoded bytes; "
                          "make one with `panel oauth-secret`")
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise ConfigError("an OAuth encryption key needs the 'cryptography' package "
                          "(pip install cryptography)") from None
    if args.oauth_encryption_key:
        pn.config.oauth_encryption_key = key.encode("ascii")
    state.encryption = Fernet(key.encode("ascii"))


def _set_environment(args) -> None:
    """The flags that the shared hub and the roles read from the environment."""
    if args.exchange_config is not None:
        from arena.feeds.exchange import ExchangeConfig

        ExchangeConfig.parse("", args.exchange_config)  # bad JSON, a key in it: fail now
        os.environ["ARENA_EXCHANGE_CONFIG"] = args.exchange_config
    if args.config:
        load_config(args.config)  # fail now, with the file and key named
        os.environ["ARENA_CONFIG"] = str(Path(args.config).resolve())
    if args.run_dir:
        os.environ["ARENA_RUN_DIR"] = args.run_dir
    if args.speed is not None:
        if not args.speed >= 0:
            raise ConfigError(f"--speed must be >= 0 bars per second, got {args.speed}")
        os.environ["ARENA_SPEED"] = str(args.speed)
    if args.operators is not None:
        os.environ["ARENA_OPERATORS"] = args.operators


def dashboard() -> None:
    """One session's dashboard, built into the session's document (as ``app.py``)."""
    from arena.ui.app import ArenaApp

    ArenaApp().serve_doc()


#: Garbage collector thresholds of a server process (Python's default: 700, 10, 10).
#: A collection holds the GIL, so the engine thread waits through it; a full one
#: walks every object, which with 50 sessions is two million and over a second.
#: With young collections every 700 allocations, the short-lived objects of every
#: update (frames, events, messages) outlive a few of them and are promoted, and
#: the promotions set off a full collection every few seconds; every 50,000, they
#: are gone before that. Measured in docs/benchmarks.md, section 7.
GC_THRESHOLDS = (50_000, 20, 100)


def _tune_gc() -> None:
    """Set :data:`GC_THRESHOLDS`, and leave what start-up made (modules, the shared
    competition: some 200,000 objects) out of every later collection. Objects freed
    by their reference count still are; only cycles among these are never collected.
    Panel still runs a full collection a few seconds after a session closes."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def cmd_serve(args) -> int:
    """Build the shared competition, then serve dashboard, API and metrics until ^C."""
    _set_environment(args)
    opts = _server_options(args)
    sweep = sweep_page(args.sweep) if getattr(args, "sweep", None) else None

    import panel as pn

    from arena.ui.api import routes
    from arena.ui.hub import shared_hub
    from arena.ui.roles import operators

    hub = shared_hub()  # built before the first request: bad data or agents fail here
    if "cookie_secret" in opts and not operators():
        print("arena: authentication is on but no --operators are named: everyone is "
              "read-only", file=sys.stderr)
    print(f"arena: {hub.competition.data_source}, {len(hub.competition.agent_names)} agents; "
          f"dashboard http://{args.address}:{args.port}/app, API /api/status, metrics /metrics",
          file=sys.stderr)
    pages, titles = {"app": dashboard}, {"app": "Trading Arena"}
    if sweep:
        pages["sweep"], titles["sweep"] = sweep, "Trading Arena sweep"
        print(f"arena: sweep {args.sweep} at http://{args.address}:{args.port}/sweep",
              file=sys.stderr)
    _tune_gc()
    pn.serve(pages, title=titles, start=True, verbose=False, extra_patterns=routes(), **opts)
    return 0


def sweep_page(out: str):
    """The ``/sweep`` page of a results folder (checked now: a missing folder fails at
    start, not in a browser)."""
    folder = Path(out)
    if not folder.is_dir():
        raise ConfigError(f"--sweep {out}: no such results folder (the --out DIR of "
                          "`arena sweep`)")

    def page() -> None:
        from arena.ui.sweep.page import SweepView

        SweepView(out=str(folder)).serve_doc()

    return page


def cmd_replay(args) -> int:
    """Open the recording, then serve the dashboard in replay mode until ^C."""
    from arena.recorder import RecordingError

    at = args.at.strip().lower()
    if at != "end" and not at.isdigit():
        raise ConfigError(f"--at must be a bar count (0, 1, ...) or 'end', got {args.at!r}")
    if args.operators is not None:
        os.environ["ARENA_OPERATORS"] = args.operators
    opts = _server_options(args)

    import panel as pn

    from arena.ui.api import routes
    from arena.ui.app import ArenaApp
    from arena.ui.runs import ReplayHub

    try:
        hub = ReplayHub(args.run, run_dir=args.run_dir)
        if at != "0":
            hub.competition.seek(hub.competition.n_bars if at == "end" else int(at))
    except RecordingError as exc:
        raise ConfigError(str(exc)) from None
    rp = hub.competition
    print(f"arena: replay of {rp.run_id} ({rp.data_source}, {len(rp.agent_names)} agents, "
          f"{rp.n_bars:,} bars, {rp.recording_summary}); dashboard "
          f"http://{args.address}:{args.port}/app, API /api/status", file=sys.stderr)

    def dashboard() -> None:
        ArenaApp(hub=hub).serve_doc("Trading Arena replay")

    _tune_gc()
    pn.serve({"app": dashboard}, title={"app": "Trading Arena replay"}, start=True,
             verbose=False, extra_patterns=routes(hub), **opts)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m arena.server [flags]``: the same as ``arena serve [flags]``."""
    parser = _add_arguments(argparse.ArgumentParser(
        prog="python -m arena.server", description="Serve the Trading Arena dashboard."))
    args = parser.parse_args(argv)
    try:
        return cmd_serve(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for what a user can fix
        from arena.agents import AgentSpecError
        from arena.data import DataError
        from arena.feeds.errors import FeedError, FetchError

        if isinstance(exc, FetchError):  # a live run's exchange kept failing
            print(f"arena: failed: {exc}", file=sys.stderr)
            return 1
        if isinstance(exc, ConfigError | DataError | AgentSpecError | FeedError):
            print(f"arena: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
