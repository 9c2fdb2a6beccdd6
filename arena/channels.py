"""The streams one competition (or one replay) publishes, with their columns.

Views read these with ``since(cursor)`` / ``changed_since(version)``; they never
touch the engine's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams import KeyedTable, StreamFrame

PRICE_COLUMNS = ("bar", "time", "symbol", "open", "high", "low", "close", "volume")
EQUITY_COLUMNS = ("bar", "time", "agent", "equity", "cash", "return_pct", "drawdown_pct")
BENCHMARK_COLUMNS = ("bar", "time", "equity", "return_pct")
TRADE_COLUMNS = ("bar", "time", "agent", "symbol", "side", "quantity", "price", "fee",
                 "action", "pnl", "position")
DECISION_COLUMNS = ("bar", "time", "agent", "targets", "confidence", "reasoning")
EVENT_COLUMNS = ("wall_time", "bar", "time", "kind", "agent", "message")
POSITION_COLUMNS = ("agent", "symbol", "quantity", "avg_price", "last_price", "market_value",
                    "unrealised_pnl", "realised_pnl")
LEADERBOARD_COLUMNS = ("rank", "agent", "equity", "pnl", "return_pct", "sharpe",
                       "max_drawdown_pct", "win_rate_pct", "trades", "fees", "exposure_pct",
                       "errors", "last_action", "tokens", "latency_ms", "cost_usd")

EVENT_KINDS = ("competition_started", "competition_paused", "competition_resumed",
               "competition_stopped", "competition_finished", "competition_reset", "progress",
               "trade", "agent_error", "data_error", "engine_error", "recording_error")


@dataclass
class CompetitionStreams:
    """Prices, equity, trades, decisions, events (append-only) and the keyed
    positions and leaderboard tables. ``maxlen`` bounds the append-only ones;
    the recording keeps everything."""

    maxlen: int | None = 200_000
    events_maxlen: int = 10_000
    prices: StreamFrame = field(init=False)
    equity: StreamFrame = field(init=False)
    benchmark: StreamFrame = field(init=False)
    trades: StreamFrame = field(init=False)
    decisions: StreamFrame = field(init=False)
    events: StreamFrame = field(init=False)
    positions: KeyedTable = field(init=False)
    leaderboard: KeyedTable = field(init=False)

    def __post_init__(self):
        m = self.maxlen
        self.prices = StreamFrame(PRICE_COLUMNS, maxlen=m, name="prices")
        self.equity = StreamFrame(EQUITY_COLUMNS, maxlen=m, name="equity")
        self.benchmark = StreamFrame(BENCHMARK_COLUMNS, maxlen=m, name="benchmark")
        self.trades = StreamFrame(TRADE_COLUMNS, maxlen=m, name="trades")
        self.decisions = StreamFrame(DECISION_COLUMNS, maxlen=m, name="decisions")
        self.events = StreamFrame(EVENT_COLUMNS, maxlen=self.events_maxlen, name="events")
        self.positions = KeyedTable(("agent", "symbol"), POSITION_COLUMNS, name="positions")
        self.leaderboard = KeyedTable("agent", LEADERBOARD_COLUMNS, name="leaderboard")

    def all(self):
        return (self.prices, self.equity, self.benchmark, self.trades, self.decisions,
                self.events, self.positions, self.leaderboard)

    def clear(self) -> None:
        """Empty every stream (each bumps its epoch, so readers know to reload)."""
        for s in self.all():
            s.clear()
