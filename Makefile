# Two entry points (see README): `make run` runs the arena, `make test` runs every test.
# Both build .venv from pyproject.toml when it is missing or older than pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# The main job: a competition between the built-in agents on bundled real prices.
run: $(STAMP)
	$(BIN)/arena run --symbol AAPL --symbol MSFT --symbol IBM --symbol GOOG \
		--agent buy_and_hold --agent sma_cross --agent momentum --agent mean_reversion \
		--agent rsi --agent macd --agent random --fee-bps 1 --slippage-bps 2


# Every test, slow ones included; fails when no test is collected (pytest exit 5).
test: $(STAMP)
	$(BIN)/ruff check arena streams tests benchmarks
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check arena streams tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_speed.py
	$(BIN)/python benchmarks/sma_cross_vs_backtesting.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
