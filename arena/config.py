"""Run configuration: one TOML file (or CLI flags) → data, agents and CompetitionConfig.

```toml
[data]
symbols = ["AAPL", "MSFT"]      # bundled symbols, or:  file = "prices.csv"
start = "2005-01-01"            # optional
end = "2012-12-31"              # optional
calendar = "trading-days"       # optional: or "24/7"; default inferred (docs/metrics.md)

[portfolio]                     # all optional
cash = 100000
fee_bps = 1.0
slippage_bps = 2.0
max_leverage = 1.0
whole_units = true

[run]                           # all optional
seed = 42
run_dir = "runs"
speed = 0                       # bars per second, 0 = as fast as possible
record = true

[[agents]]
agent = "sma_cross"             # registry name or "package.module:Class"
params = { fast = 10, slow = 20 }

[[agents]]                      # an LLM agent (see docs/llm.md)
agent = "llm"
params = { model = "gpt-4o-mini", base_url = "https://api.openai.com/v1",
           api_key_env = "OPENAI_API_KEY" }

[llm_prices]                    # optional: USD per million tokens, by model
"gpt-4o-mini" = { input = 0.15, output = 0.60 }
```

``[run] decide_deadline`` (seconds) bounds how long a paced bar waits for LLM
answers (default: one bar period; in a live run half a candle).

A live competition (``arena live CONFIG.toml``, docs/live.md) has a ``[live]``
table instead of ``[data]``:

```toml
[live]
exchange = "binance"
symbols = ["BTC/USDT", "ETH/USDT"]
timeframe = "1m"
warmup = 500                    # closed candles fetched first
duration = "6h"                 # optional: until stopped
grace = 6                       # optional, seconds: default 10 % of the timeframe, >= 5
poll = 5                        # optional, seconds between polls
[live.exchange_config]          # ccxt constructor arguments, as --exchange-config
timeout = 30000
apiKey_env = "BINANCE_KEY"      # keys only from environment variables
```
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from arena.data.calendars import check_calendar
from arena.engine import CompetitionConfig
from arena.portfolio import PortfolioConfig


class ConfigError(ValueError):
    """A configuration file or flag that cannot be used; the message names it."""


@dataclass(frozen=True)
class RunSpec:
    """What to run: the data source, the agent specs and the competition config."""

    symbols: tuple[str, ...] = ()
    file: str | None = None
    start: str | None = None
    end: str | None = None
    agents: tuple[str, ...] = ()
    config: CompetitionConfig = field(default_factory=CompetitionConfig)
    live: dict | None = None  # the [live] table of a live run
    calendar: str | None = None  # "24/7" or "trading-days"; None: bundled or inferred

    @property
    def data_source(self) -> str:
        return self.file if self.file else ",".join(self.symbols)

    def load_data(self):
        """Load the market data this spec names (raises arena.data.DataError or
        ConfigError), at least two bars of it."""
        import pandas as pd

        from arena.data import DataError, load, load_bundled

        for name, value in (("start", self.start), ("end", self.end)):
            if value is not None:
                try:
                    pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise ConfigError(f"{name} date {value!r} is not a date "
                                      "(use YYYY-MM-DD)") from None
        if self.file:
            data = load(self.file, start=self.start, end=self.end, calendar=self.calendar)
        else:
            data = load_bundled(list(self.symbols), start=self.start, end=self.end)
            if self.calendar is not None:
                data = replace(data, calendar=self.calendar)
        if len(data) < 2:
            window = f" between {self.start or 'the start'} and {self.end or 'the end'}"
            raise DataError(self.data_source, f"{len(data)} bar(s){window}; a competition "
                                              "needs at least 2")
        return data


_SECTIONS = {"data", "portfolio", "run", "agents", "llm_prices", "live"}
_DATA_KEYS = {"symbols", "file", "start", "end", "calendar"}
_RUN_KEYS = {"seed", "run_dir", "speed", "record", "run_id", "stream_maxlen", "block_bars",
             "decide_deadline"}


_NUMBER = (int, float)
_LIVE_TYPES = {"exchange": (str,), "symbols": (list, str), "timeframe": (str,),
               "warmup": (int,), "duration": (str, int, float), "grace": _NUMBER,
               "poll": _NUMBER, "exchange_config": (dict,)}
_PORTFOLIO_TYPES = {"cash": _NUMBER, "fee_bps": _NUMBER, "slippage_bps": _NUMBER,
                    "max_leverage": _NUMBER, "whole_units": (bool,)}
_DATA_TYPES = {"symbols": (list, str), "file": (str,), "start": (str,), "end": (str,),
               "calendar": (str,)}
_RUN_TYPES = {"seed": (int,), "run_dir": (str,), "speed": _NUMBER, "record": (bool,),
              "run_id": (str,), "stream_maxlen": (int,), "block_bars": (int,),
              "decide_deadline": _NUMBER}


_TYPE_NAMES = {float: "a number", int: "an integer", bool: "true or false", str: "a string",
               list: "a list", dict: "a table"}


def _check_types(table: dict, types: dict, where: str, path: str) -> None:
    for key, value in table.items():
        want = types[key]
        if isinstance(value, bool) and bool not in want or not isinstance(value, want):
            names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in want
                                if not (t is int and float in want))
            raise ConfigError(f"{path}: {where} {key} must be {names}, got {value!r}")


def agent_spec(name: str, params: dict | None) -> str:
    """Registry spec string ``name:p=v,...`` from a name and a params table; text
    with a comma, quote, ``=`` or line break is written as a JSON string."""
    if not params:
        return name
    parts = []
    for k, v in params.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, str) and (set(v) & set(',="\n\r') or v != v.strip()):
            v = json.dumps(v)
        parts.append(f"{k}={v}")
    return f"{name}:" + ",".join(parts)


def _check_keys(table: dict, allowed: set[str], where: str, path: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)} in {where}; "
                          f"allowed: {', '.join(sorted(allowed))}")


def _llm_prices(table, source: str) -> dict[str, dict[str, float]]:
    """``[llm_prices]``: model → {input, output} in USD per million tokens."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [llm_prices] must be a table, got {table!r}")
    for model, price in table.items():
        where = f"[llm_prices] {model!r}"
        if not isinstance(price, dict):
            raise ConfigError(f"{source}: {where} must be a table like "
                              "{ input = 0.15, output = 0.60 }, got " + repr(price))
        _check_keys(price, {"input", "output"}, where, source)
        _check_types(price, {"input": _NUMBER, "output": _NUMBER}, where, source)
        for k, v in price.items():
            if v < 0:
                raise ConfigError(f"{source}: {where} {k} must be >= 0, got {v!r}")
    return table


def with_flags(config: CompetitionConfig, args, **fields) -> CompetitionConfig:
    """``config`` with the portfolio flags the commands share (``--cash``, ``--fee-bps``,
    ``--slippage-bps``, ``--leverage``, ``--fractional``) and ``fields`` of the
    competition on top (flags and fields that are None leave the config's value); a
    value the config refuses is a ConfigError."""
    portfolio = {k: v for k, v in {
        "cash": args.cash, "fee_bps": args.fee_bps, "slippage_bps": args.slippage_bps,
        "max_leverage": args.leverage, "whole_units": False if args.fractional else None,
    }.items() if v is not None}
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        return replace(config, portfolio=replace(config.portfolio, **portfolio), **fields)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def read_toml(path: str | Path) -> dict:
    """A TOML file's tables; a missing, unreadable or invalid file is a ConfigError
    naming it."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def load_config(path: str | Path) -> RunSpec:
    """Read a TOML run configuration; errors name the file and the key."""
    p = Path(path)
    raw = read_toml(p)
    spec = spec_from_dict(raw, str(p))
    if spec.file and not Path(spec.file).is_absolute():  # relative to the config file
        from dataclasses import replace
        spec = replace(spec, file=str(p.parent / spec.file))
    return spec


def spec_from_dict(raw: dict, source: str = "config") -> RunSpec:
    """Build a RunSpec from the parsed TOML structure (see the module docstring)."""
    _check_keys(raw, _SECTIONS, "the top level", source)
    for section in ("data", "portfolio", "run"):
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"{source}: [{section}] must be a table, got {raw[section]!r}")
    live = raw.get("live")
    if live is not None:
        live = _live_table(raw, live, source)
    data = raw.get("data", {})
    _check_keys(data, _DATA_KEYS, "[data]", source)
    _check_types(data, _DATA_TYPES, "[data]", source)
    symbols = data.get("symbols", [])
    if isinstance(symbols, str):
        symbols = [s.strip() for s in symbols.split(",") if s.strip()]
    if not all(isinstance(sym, str) for sym in symbols):
        raise ConfigError(f"{source}: [data] symbols must be a list of names, got {symbols!r}")
    if live is None and bool(symbols) == bool(data.get("file")):
        raise ConfigError(f"{source}: [data] needs exactly one of 'symbols' or 'file'")
    try:
        check_calendar(data.get("calendar"), "[data] calendar")
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    agents = raw.get("agents", [])
    if not isinstance(agents, list) or not agents:
        raise ConfigError(f"{source}: needs at least one [[agents]] table")
    prices = _llm_prices(raw.get("llm_prices", {}), source)
    specs = []
    for i, a in enumerate(agents, 1):
        if not isinstance(a, dict) or "agent" not in a:
            raise ConfigError(f"{source}: [[agents]] #{i} needs an 'agent' key (a registry "
                              "name or package.module:Class)")
        _check_keys(a, {"agent", "params"}, f"[[agents]] #{i}", source)
        _check_types(a, {"agent": (str,), "params": (dict,)}, f"[[agents]] #{i}", source)
        params = dict(a.get("params") or {})
        if a["agent"] == "llm":
            price = prices.get(params.get("model", "gpt-4o-mini"), {})
            for key, name in (("price_in", "input"), ("price_out", "output")):
                if name in price:
                    params.setdefault(key, price[name])
        specs.append(agent_spec(a["agent"], params))
    portfolio = raw.get("portfolio", {})
    _check_keys(portfolio, {f.name for f in fields(PortfolioConfig)}, "[portfolio]", source)
    _check_types(portfolio, _PORTFOLIO_TYPES, "[portfolio]", source)
    run = raw.get("run", {})
    _check_keys(run, _RUN_KEYS, "[run]", source)
    _check_types(run, _RUN_TYPES, "[run]", source)
    try:
        config = CompetitionConfig(portfolio=PortfolioConfig(**portfolio), **run)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return RunSpec(symbols=tuple(symbols), file=data.get("file"), start=data.get("start"),
                   end=data.get("end"), agents=tuple(specs), config=config, live=live,
                   calendar=data.get("calendar"))


def _live_table(raw: dict, live, source: str) -> dict:
    """``[live]``: checked keys and types; symbols as a list (see the module docstring)."""
    if not isinstance(live, dict):
        raise ConfigError(f"{source}: [live] must be a table, got {live!r}")
    if raw.get("data"):
        raise ConfigError(f"{source}: a live run takes its market from [live] (exchange, "
                          "symbols, timeframe); remove [data]")
    _check_keys(live, set(_LIVE_TYPES), "[live]", source)
    _check_types(live, _LIVE_TYPES, "[live]", source)
    live = dict(live)
    symbols = live.get("symbols", [])
    if isinstance(symbols, str):
        symbols = [s.strip() for s in symbols.split(",") if s.strip()]
    if not symbols or not all(isinstance(s, str) for s in symbols):
        raise ConfigError(f"{source}: [live] symbols must be a list of markets, e.g. "
                          "[\"BTC/USDT\"]")
    live["symbols"] = list(symbols)
    if "exchange" not in live:
        raise ConfigError(f"{source}: [live] needs an exchange (a ccxt id, e.g. \"binance\")")
    return live
