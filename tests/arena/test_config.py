"""Run configuration files: TOML → RunSpec, and one clear ConfigError per mistake."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.agents import create_agent
from arena.config import ConfigError, RunSpec, agent_spec, load_config, spec_from_dict
from arena.data import DataError
from arena.engine import CompetitionConfig
from arena.portfolio import PortfolioConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FULL_TOML = """
[data]
symbols = ["AAPL", "MSFT"]
start = "2005-01-01"
end = "2006-12-31"

[portfolio]
cash = 50000
fee_bps = 1.5
slippage_bps = 2.0
max_leverage = 2.0
whole_units = false

[run]
seed = 42
run_dir = "my_runs"
speed = 25
record = false

[[agents]]
agent = "buy_and_hold"

[[agents]]
agent = "sma_cross"
params = { fast = 5, slow = 30, short = true }

[[agents]]
agent = "mypkg.agents:MyAgent"
params = { lookback = 50 }
"""

TINY_CSV = """time,open,high,low,close,volume
2024-01-02,10,11,9,10.5,1000
2024-01-03,10.5,11.5,10,11,1200
2024-01-04,11,12,10.5,11.5,900
"""

MINIMAL = {"data": {"symbols": ["AAPL"]}, "agents": [{"agent": "rsi"}]}


def write(folder: Path, text: str, name: str = "run.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def with_changes(**sections) -> dict:
    """MINIMAL with whole sections replaced (a value of None removes the section)."""
    raw = {"data": dict(MINIMAL["data"]), "agents": [dict(a) for a in MINIMAL["agents"]]}
    for key, value in sections.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


# ----------------------------------------------------------------------------- valid files


def test_full_file_gives_every_field(tmp_path):
    # Arrange
    path = write(tmp_path, FULL_TOML)
    # Act
    spec = load_config(path)
    # Assert
    assert spec == RunSpec(
        symbols=("AAPL", "MSFT"), file=None, start="2005-01-01", end="2006-12-31",
        agents=("buy_and_hold", "sma_cross:fast=5,slow=30,short=true",
                "mypkg.agents:MyAgent:lookback=50"),
        config=CompetitionConfig(
            portfolio=PortfolioConfig(cash=50000, fee_bps=1.5, slippage_bps=2.0,
                                      max_leverage=2.0, whole_units=False),
            seed=42, run_dir="my_runs", speed=25, record=False),
    )
    assert spec.data_source == "AAPL,MSFT"


def test_minimal_file_takes_the_defaults(tmp_path):
    # Arrange
    path = write(tmp_path, '[data]\nsymbols = ["IBM"]\n[[agents]]\nagent = "macd"\n')
    # Act
    spec = load_config(path)
    # Assert
    assert spec.symbols == ("IBM",) and spec.agents == ("macd",)
    assert (spec.file, spec.start, spec.end) == (None, None, None)
    assert spec.config == CompetitionConfig()


def test_symbols_may_be_one_comma_separated_string():
    # Act
    spec = spec_from_dict(with_changes(data={"symbols": " AAPL, MSFT ,,GOOG"}))
    # Assert
    assert spec.symbols == ("AAPL", "MSFT", "GOOG")


def test_relative_data_file_is_resolved_against_the_config_folder(tmp_path, monkeypatch):
    # Arrange: config in conf/, data in conf/data/, the process somewhere else
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "data" / "xyz.csv").write_text(TINY_CSV)
    write(conf, '[data]\nfile = "data/xyz.csv"\n[[agents]]\nagent = "buy_and_hold"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # Act
    spec = load_config(Path("..") / "conf" / "run.toml")
    data = spec.load_data()
    # Assert
    assert Path(spec.file).resolve() == (conf / "data" / "xyz.csv").resolve()
    assert spec.symbols == ()
    assert data.symbols == ("XYZ",) and len(data) == 3
    assert data.close[:, 0].tolist() == [10.5, 11.0, 11.5]


def test_absolute_data_file_is_kept(tmp_path):
    # Arrange
    csv = tmp_path / "abs.csv"
    csv.write_text(TINY_CSV)
    (tmp_path / "sub").mkdir()
    path = write(tmp_path / "sub", f'[data]\nfile = "{csv.as_posix()}"\n[[agents]]\nagent = "rsi"\n')
    # Act
    spec = load_config(path)
    # Assert
    assert spec.file == csv.as_posix()


def test_spec_from_dict_leaves_a_relative_file_alone():
    # Act
    spec = spec_from_dict(with_changes(data={"file": "prices.csv"}))
    # Assert
    assert spec.file == "prices.csv" and spec.data_source == "prices.csv"


@pytest.mark.parametrize("name", ["quickstart.toml", "custom_file.toml"])
def test_example_configs_load(name):
    # Act
    spec = load_config(EXAMPLES / name)
    # Assert
    assert len(spec.agents) >= 4
    for text in spec.agents:
        create_agent(text)  # every agent spec in the examples builds
    if spec.file:
        assert Path(spec.file).is_file()
    else:
        assert set(spec.symbols) <= {"AAPL", "GOOG", "IBM", "MSFT"}


def test_quickstart_uses_bundled_symbols_and_builtin_agents():
    # Act
    spec = load_config(EXAMPLES / "quickstart.toml")
    # Assert
    assert spec.symbols and spec.file is None
    names = {s.split(":")[0] for s in spec.agents}
    assert len(names) >= 4 and "." not in "".join(names)


# ----------------------------------------------------------------------------- agent specs


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("rsi", None, "rsi"),
    ("rsi", {}, "rsi"),
    ("rsi", {"period": 10}, "rsi:period=10"),
    ("sma_cross", {"fast": 5, "short": True}, "sma_cross:fast=5,short=true"),
    ("momentum", {"short": False, "threshold": 0.25}, "momentum:short=false,threshold=0.25"),
])
def test_agent_spec_text(name, params, expected):
    assert agent_spec(name, params) == expected


@given(fast=st.integers(1, 100), gap=st.integers(1, 100), short=st.booleans(),
       weight=st.floats(0.01, 1.0, allow_nan=False))
def test_agent_spec_builds_the_agent_with_those_values(fast, gap, short, weight):
    # Arrange
    params = {"fast": fast, "slow": fast + gap, "short": short, "weight": weight}
    # Act
    agent = create_agent(agent_spec("sma_cross", params))
    # Assert
    assert (agent.fast, agent.slow, agent.short, agent.weight) == (fast, fast + gap, short,
                                                                   weight)


# ----------------------------------------------------------------------------- errors


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="config file not found") as err:
        load_config(missing)
    assert str(missing) in str(err.value)


def test_a_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file") as err:
        load_config(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_binary_file_names_it(tmp_path):
    path = tmp_path / "run.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_bad_toml_names_the_file_and_the_line(tmp_path):
    # Arrange: the table header on line 3 is not closed
    path = write(tmp_path, '# comment\n\n[data\nsymbols = ["AAPL"]\n')
    # Act
    with pytest.raises(ConfigError) as err:
        load_config(path)
    # Assert
    message = str(err.value)
    assert message.startswith(f"{path}: not valid TOML")
    assert "line 3" in message


# (id, raw config, words the message must contain besides the file name)
BAD_CONFIGS = [
    ("unknown_section", with_changes(extra={"x": 1}), ["extra", "top level"]),
    ("unknown_data_key", with_changes(data={"symbols": ["AAPL"], "colour": "red"}),
     ["colour", "[data]"]),
    ("unknown_portfolio_key", with_changes(portfolio={"leverage": 2}),
     ["leverage", "[portfolio]", "max_leverage"]),
    ("unknown_run_key", with_changes(run={"sed": 1}), ["sed", "[run]", "seed"]),
    ("unknown_agent_key", with_changes(agents=[{"agent": "rsi", "parms": {}}]),
     ["parms", "[[agents]] #1"]),
    ("no_agents_section", with_changes(agents=None), ["[[agents]]"]),
    ("empty_agents", with_changes(agents=[]), ["[[agents]]"]),
    ("agent_without_name", with_changes(agents=[{"agent": "rsi"}, {"params": {"period": 3}}]),
     ["[[agents]] #2", "'agent'"]),
    ("symbols_and_file", with_changes(data={"symbols": ["AAPL"], "file": "p.csv"}),
     ["symbols", "file"]),
    ("neither_symbols_nor_file", with_changes(data={"start": "2005-01-01"}),
     ["symbols", "file"]),
    ("no_data_section", with_changes(data=None), ["symbols", "file"]),
    ("negative_cash", with_changes(portfolio={"cash": -1}), ["cash", "-1"]),
    ("zero_cash", with_changes(portfolio={"cash": 0}), ["cash"]),
    ("negative_fee", with_changes(portfolio={"fee_bps": -1}), ["fee_bps"]),
    ("huge_slippage", with_changes(portfolio={"slippage_bps": 10_000}), ["slippage_bps"]),
    ("nan_fee", with_changes(portfolio={"fee_bps": float("nan")}), ["fee_bps"]),
    ("zero_leverage", with_changes(portfolio={"max_leverage": 0}), ["max_leverage"]),
    ("too_much_leverage", with_changes(portfolio={"max_leverage": 101}), ["max_leverage"]),
    ("negative_speed", with_changes(run={"speed": -1}), ["speed"]),
]


@pytest.mark.parametrize(("raw", "words"), [(r, w) for _, r, w in BAD_CONFIGS],
                         ids=[i for i, *_ in BAD_CONFIGS])
def test_bad_config_raises_config_error_naming_file_and_key(raw, words):
    # Act
    with pytest.raises(ConfigError) as err:
        spec_from_dict(raw, "conf/run.toml")
    # Assert
    message = str(err.value)
    assert message.startswith("conf/run.toml: "), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_errors_from_a_file_name_that_file(tmp_path):
    # Arrange
    path = write(tmp_path, '[data]\nsymbols = ["AAPL"]\n[portfolio]\ncash = -5\n'
                           '[[agents]]\nagent = "rsi"\n')
    # Act
    with pytest.raises(ConfigError) as err:
        load_config(path)
    # Assert
    assert str(err.value) == f"{path}: cash must be positive, got -5"


# Values of the wrong type: each is a ConfigError naming the file, the table and the key.
WRONG_TYPES = [
    ("seed_text", with_changes(run={"seed": "x"}), "[run] seed"),
    ("seed_float", with_changes(run={"seed": 1.5}), "[run] seed"),
    ("record_text", with_changes(run={"record": "no"}), "[run] record"),
    ("run_dir_number", with_changes(run={"run_dir": 5}), "[run] run_dir"),
    ("speed_text", with_changes(run={"speed": "fast"}), "[run] speed"),
    ("speed_bool", with_changes(run={"speed": True}), "[run] speed"),
    ("cash_text", with_changes(portfolio={"cash": "lots"}), "[portfolio] cash"),
    ("fee_text", with_changes(portfolio={"fee_bps": "1"}), "[portfolio] fee_bps"),
    ("whole_units_text", with_changes(portfolio={"whole_units": "yes"}),
     "[portfolio] whole_units"),
    ("whole_units_number", with_changes(portfolio={"whole_units": 1}),
     "[portfolio] whole_units"),
]


@pytest.mark.parametrize(("raw", "key"), [(r, k) for _, r, k in WRONG_TYPES],
                         ids=[i for i, *_ in WRONG_TYPES])
def test_wrong_typed_value_raises_config_error_naming_the_key(raw, key):
    with pytest.raises(ConfigError) as err:
        spec_from_dict(raw, "conf/run.toml")
    message = str(err.value)
    assert message.startswith(f"conf/run.toml: {key} must be "), message


def test_integral_float_and_int_both_pass_as_numbers():
    spec = spec_from_dict(with_changes(portfolio={"cash": 5000, "fee_bps": 1},
                                       run={"speed": 10}))
    assert (spec.config.portfolio.cash, spec.config.portfolio.fee_bps) == (5000, 1)
    assert spec.config.speed == 10


# The [data] and [[agents]] tables, and non-table sections, are still not type-checked:
# some pass silently (file = 5, symbols = [1, 2], start = 5, agent = 5 becomes an agent
# called "int" that errors on every bar), others escape as TypeError/AttributeError.
WRONG_TYPES_OPEN = [
    ("file_number", with_changes(data={"file": 5}), "file"),
    ("symbols_number", with_changes(data={"symbols": 5}), "symbols"),
    ("symbols_numbers", with_changes(data={"symbols": [1, 2]}), "symbols"),
    ("start_number", with_changes(data={"symbols": ["AAPL"], "start": 5}), "start"),
    ("data_not_a_table", with_changes(data=3), "data"),
    ("portfolio_not_a_table", with_changes(portfolio=3), "portfolio"),
    ("agent_number", with_changes(agents=[{"agent": 5}]), "agent"),
    ("params_text", with_changes(agents=[{"agent": "rsi", "params": "period=5"}]), "params"),
]


@pytest.mark.parametrize(("raw", "key"), [(r, k) for _, r, k in WRONG_TYPES_OPEN],
                         ids=[i for i, *_ in WRONG_TYPES_OPEN])
def test_wrong_typed_data_or_agent_value_raises_config_error_naming_the_key(raw, key):
    with pytest.raises(ConfigError) as err:
        spec_from_dict(raw, "conf/run.toml")
    message = str(err.value)
    assert message.startswith("conf/run.toml: ") and key in message, message


# ----------------------------------------------------------------------------- loading data


def test_load_data_rejects_a_date_that_is_not_a_date():
    spec = RunSpec(symbols=("AAPL",), start="notadate", agents=("rsi",))
    with pytest.raises(ConfigError, match=r"start date 'notadate' is not a date"):
        spec.load_data()


def test_load_data_needs_at_least_two_bars():
    # Arrange: 2013-03-01 is the last bundled bar
    spec = RunSpec(symbols=("AAPL",), start="2013-03-01", agents=("rsi",))
    # Act / Assert
    with pytest.raises(DataError, match=r"1 bar\(s\) between 2013-03-01 and the end"):
        spec.load_data()


def test_load_data_trims_to_the_window():
    # Act: the first trading days of 2005 were Jan 3..7
    data = RunSpec(symbols=("MSFT",), start="2005-01-01", end="2005-01-07").load_data()
    # Assert
    assert len(data) == 5 and data.symbols == ("MSFT",)


def test_empty_window_message_does_not_say_none():
    spec = RunSpec(symbols=("AAPL",), start="2020-01-01", agents=("rsi",))
    with pytest.raises(DataError) as err:
        spec.load_data()
    assert "None" not in str(err.value), str(err.value)
