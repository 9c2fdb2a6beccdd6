"""Agents for the registry tests' import-path specs (not a test module)."""

import param

from arena.agents.base import Agent, Decision


class CustomAgent(Agent):
    """One parameter of each kind a spec can set."""

    description = "test agent with one parameter of each kind"

    window = param.Integer(5, bounds=(1, 100), doc="an integer")
    level = param.Number(0.5, bounds=(0.0, 1.0), doc="a number")
    enabled = param.Boolean(False, doc="a flag")
    tag = param.String("plain", doc="some text")
    mode = param.Selector(default="fast", objects=["fast", "slow"], doc="a choice")

    def decide(self, obs):
        return Decision.hold("custom agent holds")


class NotAnAgent:
    """A class that does not derive from Agent."""


def not_a_class():
    """A function, not a class."""


SOME_NUMBER = 42
