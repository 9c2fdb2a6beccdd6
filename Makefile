# Two entry points (see README): `make run` runs the arena, `make test` runs every test.
# Both build .venv from pyproject.toml when it is missing or older than pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run cli test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# The main job: the live dashboard on bundled real prices (9 agents, ML included, AAPL MSFT IBM GOOG)
# at http://127.0.0.1:5006/app — press Start. PORT=... to change the port.
PORT ?= 5006
run: $(STAMP)
	$(BIN)/arena serve --port $(PORT)

# The same competition from the command line, printing the leaderboard.
cli: $(STAMP)
	$(BIN)/arena run --symbol AAPL --symbol MSFT --symbol IBM --symbol GOOG \
		--agent buy_and_hold --agent sma_cross --agent momentum --agent mean_reversion \
		--agent rsi --agent macd --agent ml --agent random --fee-bps 1 --slippage-bps 2

# Every test, slow ones included; each step fails when it collects no test (pytest exit 5).
# Everything but the browser tests runs on two workers (pytest-xdist); the browser tests
# then run one at a time, alone, so that a served page is not starved by other tests.
test: $(STAMP)
	$(BIN)/ruff check arena streams tests benchmarks notebooks app.py
	$(BIN)/python -m pytest -q -n 2 --ignore=tests/browser
	$(BIN)/python -m pytest -q tests/browser

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check arena streams tests benchmarks notebooks app.py

# Every benchmark, one after the other (docs/benchmarks.md; about 15 minutes on 2 cores,
# 10 of them viewers.py).
bench: $(STAMP)
	$(BIN)/python benchmarks/sma_cross_vs_backtesting.py
	$(BIN)/python benchmarks/engine_speed.py
	$(BIN)/python benchmarks/grid_speed.py
	$(BIN)/python benchmarks/dashboard_stream.py
	$(BIN)/python benchmarks/dashboard_payload.py
	$(BIN)/python benchmarks/replay_seek.py
	$(BIN)/python benchmarks/llm_overhead.py
	$(BIN)/python benchmarks/recording_overhead.py
	$(BIN)/python benchmarks/ml_agent.py
	$(BIN)/python benchmarks/viewers.py
	$(BIN)/python benchmarks/tearsheet.py
	$(BIN)/python benchmarks/analysis_tab.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
