"""Agents: the protocol, the registry and the built-in agents.

>>> from arena.agents import create_agent
>>> create_agent("sma_cross:fast=5,slow=30").label()
'sma_cross(fast=5,slow=30)'
"""

from arena.agents import ml, random_agent, rules  # noqa: F401  (registers the built-ins)
from arena.agents.base import Agent, Decision, History, Observation
from arena.agents.registry import AgentSpecError, available, create_agent, describe, register

__all__ = [
    "Agent", "AgentSpecError", "Decision", "History", "Observation",
    "available", "create_agent", "describe", "register",
]
