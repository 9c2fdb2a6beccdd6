"""Trading Arena: agents compete on the same market data, recorded and replayable.

The public API; everything else is an implementation detail::

    from arena import Competition, load
    comp = Competition(load("AAPL"), ["buy_and_hold", "sma_cross", "momentum"])
    comp.run()
"""

from arena.agents import Agent, Decision, Observation, create_agent
from arena.compare import Comparison, compare
from arena.data import MarketData, load, synthetic
from arena.engine import Competition, CompetitionConfig, State
from arena.portfolio import PortfolioConfig
from arena.recorder import Recording, list_runs
from arena.replay import Replay

__all__ = [
    "Agent", "Competition", "CompetitionConfig", "Decision", "MarketData", "Observation",
    "PortfolioConfig", "Recording", "Replay", "Comparison", "State", "compare", "create_agent",
    "list_runs", "load", "synthetic",
]
