"""The agent registry: names, descriptions and agents built from spec strings."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.agents import Agent, AgentSpecError, available, create_agent, describe, register
from arena.agents import registry as registry_module
from arena.agents.rules import SmaCross

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = "tests.arena.agents.custom_agent_fixture"
BUILTINS = ["buy_and_hold", "macd", "mean_reversion", "ml", "momentum", "random", "rsi", "sma_cross"]


@pytest.fixture
def importable_tests(monkeypatch):
    """Make ``tests.arena.agents.custom_agent_fixture`` importable by its dotted name."""
    monkeypatch.syspath_prepend(str(ROOT))


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry that is thrown away after the test."""
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))


# -- listing -----------------------------------------------------------------------


def test_available_lists_the_builtins_by_name():
    agents = available()

    assert set(BUILTINS) <= set(agents)
    assert list(agents) == sorted(agents)
    for name, cls in agents.items():
        assert issubclass(cls, Agent)
        assert cls.registered_name == name


def test_describe_has_one_row_per_agent_with_defaults():
    table = describe()

    assert list(table.columns) == ["name", "description", "parameters"]
    assert table["name"].tolist() == list(available())
    row = table.set_index("name").loc["sma_cross"]
    assert row["parameters"] == "fast=10, slow=20, short=False, weight=1.0"
    assert all(d and "\n" not in d for d in table["description"])


# -- specs with registered names -----------------------------------------------------


def test_name_alone_gives_the_defaults():
    agent = create_agent("sma_cross")

    assert isinstance(agent, SmaCross)
    assert (agent.fast, agent.slow, agent.short, agent.weight) == (10, 20, False, 1.0)
    assert agent.label() == "sma_cross"


def test_values_are_parsed_to_each_parameters_type():
    agent = create_agent(" sma_cross : fast = 5 , slow=30,short=yes, weight=0.5 ")

    assert (agent.fast, agent.slow, agent.short, agent.weight) == (5, 30, True, 0.5)
    assert type(agent.fast) is int and type(agent.weight) is float
    assert agent.label() == "sma_cross(fast=5,short=True,slow=30,weight=0.5)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True),
     ("false", False), ("False", False), ("0", False), ("no", False), ("off", False)],
)
def test_boolean_spellings(text, expected):
    assert create_agent(f"momentum:short={text}").short is expected


def test_overrides_win_over_the_spec_and_strings_are_parsed():
    agent = create_agent("rsi:period=9,lower=20", lower=25.0, upper="80")

    assert (agent.period, agent.lower, agent.upper) == (9, 25.0, 80.0)


def test_class_and_instance_specs():
    from_class = create_agent(SmaCross, fast=3)
    instance = SmaCross()
    same = create_agent(instance, slow="40")

    assert isinstance(from_class, SmaCross) and from_class.fast == 3
    assert same is instance and instance.slow == 40
    with pytest.raises(AgentSpecError, match=r"fast \(50\) must be shorter than slow \(40\)"):
        create_agent(instance, fast=50)


@given(fast=st.integers(1, 50), gap=st.integers(1, 150),
       weight=st.floats(0.0, 1.0, allow_nan=False))
def test_spec_round_trips_any_valid_values(fast, gap, weight):
    agent = create_agent(f"sma_cross:fast={fast},slow={fast + gap},weight={weight!r}")

    assert (agent.fast, agent.slow, agent.weight) == (fast, fast + gap, weight)


# -- errors --------------------------------------------------------------------------

ERRORS = [
    ("nope", "unknown agent 'nope'; known agents: buy_and_hold, macd, mean_reversion, "),
    ("", "empty agent spec; known agents: buy_and_hold"),
    ("sma_cross:fats=5",
     "sma_cross: unknown parameter 'fats'; parameters: fast, slow, short, weight"),
    ("sma_cross:fast=five",
     r"sma_cross: bad value for fast: 'five' is not an integer in \[1, inf\)"),
    ("sma_cross:fast=2.5",
     r"sma_cross: bad value for fast: '2.5' is not an integer in \[1, inf\)"),
    ("sma_cross:fast=0",
     r"sma_cross: bad value for fast: 0 is out of bounds; expected an integer in \[1, inf\)"),
    ("sma_cross:weight=1.5",
     r"sma_cross: bad value for weight: 1.5 is out of bounds; expected a number in \[0, 1\]"),
    ("sma_cross:weight=nan",
     r"sma_cross: bad value for weight: 'nan' is not a number in \[0, 1\]"),
    ("sma_cross:short=maybe",
     r"sma_cross: bad value for short: 'maybe' is not a boolean \(true/false/1/0/yes/no\)"),
    ("sma_cross:fast=30", r"^sma_cross: fast \(30\) must be shorter than slow \(20\)$"),
    ("sma_cross:fast", "sma_cross: expected 'param=value' in agent spec 'sma_cross:fast', got 'fast'"),
    ("sma_cross:fast=5,fast=6", "sma_cross: parameter 'fast' given twice"),
    ("rsi:lower=80", r"rsi: lower \(80\) must be below upper \(70\)"),
    ("mean_reversion:exit_z=2", r"exit_z \(2.0\) must not exceed entry_z \(1.0\)"),
]


@pytest.mark.parametrize(("spec", "message"), ERRORS)
def test_bad_specs_raise_one_line_errors_naming_the_input(spec, message):
    with pytest.raises(AgentSpecError, match=message) as info:
        create_agent(spec)

    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_override_names_the_parameters():
    with pytest.raises(AgentSpecError, match="random: unknown parameter 'seed'; parameters: trade_prob, weight"):
        create_agent("random", seed=3)


@pytest.mark.parametrize("spec", [42, None, dict])
def test_specs_that_are_not_names_or_agents_are_rejected(spec):
    with pytest.raises(AgentSpecError, match="agent spec must be|is not an Agent subclass"):
        create_agent(spec)


# -- import paths --------------------------------------------------------------------


def test_import_path_with_parameters(importable_tests):
    agent = create_agent(
        f"{FIXTURE}:CustomAgent:window=7,level=0.25,enabled=yes,tag=hello world,mode=slow"
    )

    assert type(agent).__name__ == "CustomAgent"
    assert type(agent).__module__ == FIXTURE
    assert (agent.window, agent.level, agent.enabled, agent.tag, agent.mode) == (
        7, 0.25, True, "hello world", "slow")


def test_import_path_with_a_dot_instead_of_a_colon(importable_tests):
    agent = create_agent(f"{FIXTURE}.CustomAgent")

    assert type(agent).__name__ == "CustomAgent" and agent.window == 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_pkg.agents:Thing",
         "cannot import module 'no_such_pkg.agents' for agent spec 'no_such_pkg.agents:Thing': "
         "ModuleNotFoundError"),
        (f"{FIXTURE}:Missing", f"module '{FIXTURE}' has no attribute 'Missing'"),
        (f"{FIXTURE}:NotAnAgent", r"custom_agent_fixture:NotAnAgent is not an Agent subclass \(it is NotAnAgent\)"),
        (f"{FIXTURE}:not_a_class", r"is not an Agent subclass \(it is function\)"),
        (f"{FIXTURE}:SOME_NUMBER", r"is not an Agent subclass \(it is int\)"),
        (f"{FIXTURE}:CustomAgent:mode=medium",
         "CustomAgent: bad value for mode: 'medium' is not one of fast, slow"),
        (f"{FIXTURE}:CustomAgent:window=101",
         r"bad value for window: 101 is out of bounds; expected an integer in \[1, 100\]"),
        (f"{FIXTURE}:CustomAgent:colour=red",
         "unknown parameter 'colour'; parameters: window, level, enabled, tag, mode"),
    ],
)
def test_import_path_errors(importable_tests, spec, message):
    with pytest.raises(AgentSpecError, match=message):
        create_agent(spec)


# -- registering ---------------------------------------------------------------------


def test_register_sets_the_name_and_lists_the_agent(scratch_registry, importable_tests):
    from tests.arena.agents.custom_agent_fixture import CustomAgent

    class Mine(CustomAgent):
        pass

    register("custom")(Mine)

    assert Mine.registered_name == "custom"
    assert available()["custom"] is Mine
    assert create_agent("custom:window=3").window == 3
    assert "custom" in describe()["name"].tolist()


def test_register_refuses_a_taken_name_and_non_agents(scratch_registry):
    class Other(Agent):
        pass

    with pytest.raises(ValueError, match="agent name 'sma_cross' is already taken by arena.agents.rules.SmaCross"):
        register("sma_cross")(Other)
    with pytest.raises(TypeError, match="needs an Agent subclass"):
        register("thing")(dict)
    with pytest.raises(ValueError, match="agent name must be letters"):
        register("bad name")
    assert register("sma_cross")(SmaCross) is SmaCross  # same class again: fine (reloads)
