"""Text is text, everywhere: the hostile corpus (tests/hostile.py) as agent labels
and parameters, reasoning, error and event text, symbols in a data file, run ids and
run folder names, and an uploaded file's name, through the live page, the replay page
with its run picker and compare card, and the exported report, in Chromium. Nothing
of it may run, nothing may become an element, and the text must be on the page as
typed."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from arena.data import load, synthetic
from arena.engine import Competition, CompetitionConfig
from tests.browser.agents_fixture import HostileAgent
from tests.browser.support import (
    ARENA,
    ROOT,
    Dashboard,
    Server,
    free_port,
    server_env,
    start_arena_serve,
    wait_until,
)
from tests.hostile import ALL, CORPUS, INJECTED_JS, TEXT_JS

LABELS = ("img", "script", "attr", "long")  # the agents' labels (an LLM agent's is its model)
SYMBOLS = ("img", "formula")  # the data file's symbols
RUN_IDS = ("svg", "js_url")  # recordings dropped into the replay's run folder
FAIL_EVERY = 4  # the "script" agent raises an error of the whole corpus this often

TEXTS_JS = """(selector) => {
  // the text of every element matching selector, in the document and every shadow root
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll(selector)) out.push(el.textContent);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
}"""
CHOICES = ".choices__item"  # every MultiChoice option label (Choices.js)
OPTIONS = "select option"  # every Select option


def hostile_agents() -> list[HostileAgent]:
    return [HostileAgent(tag=CORPUS[k], fail_every=FAIL_EVERY if k == "script" else 0)
            for k in LABELS]


def config_toml(csv) -> str:
    """A run config of the hostile agents (their labels as parameters) on ``csv``."""
    lines = [f"[data]\nfile = {json.dumps(str(csv))}\n", "[run]\nspeed = 20\n"]
    for k in LABELS:
        params = {"tag": CORPUS[k], "fail_every": FAIL_EVERY if k == "script" else 0}
        inline = ", ".join(f"{p} = {json.dumps(v)}" for p, v in params.items())
        lines.append(f'[[agents]]\nagent = "tests.browser.agents_fixture:HostileAgent"\n'
                     f"params = {{ {inline} }}\n")
    lines.append('[[agents]]\nagent = "buy_and_hold"\n')
    return "\n".join(lines)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A data file whose symbols, and a config whose agents' labels, are hostile text."""
    tmp = tmp_path_factory.mktemp("hostile")
    frame = synthetic(("AAA", "BBB"), bars=120, seed=5).long_frame()
    frame["symbol"] = frame["symbol"].map(dict(zip(("AAA", "BBB"),
                                                   (CORPUS[k] for k in SYMBOLS), strict=True)))
    csv = tmp / "hostile.csv"
    frame.to_csv(csv, index=False)
    config = tmp / "hostile.toml"
    config.write_text(config_toml(csv))
    return SimpleNamespace(tmp=tmp, csv=csv, config=config)


@pytest.fixture(scope="module")
def live_server(hostile):
    server = start_arena_serve(hostile.tmp, "--config", str(hostile.config))
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def recordings(hostile):
    """Two recordings of the hostile competition whose run ids (and so folder names)
    are hostile text too."""
    run_dir = hostile.tmp / "shared-runs"
    for key in RUN_IDS:
        Competition(load(str(hostile.csv)), [*hostile_agents(), "buy_and_hold"],
                    CompetitionConfig(run_dir=str(run_dir), run_id=CORPUS[key], seed=1)).run()
    return run_dir


def assert_nothing_ran(page) -> None:
    page.wait_for_timeout(1000)  # an <img onerror> or <svg onload> would have fired by now
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate(INJECTED_JS) == []


@pytest.mark.slow
def test_live_page_shows_hostile_labels_symbols_reasoning_and_errors_as_text(live_server, page):
    # Arrange
    server = live_server
    dash = Dashboard(page, server).open()

    # Act: bars with decisions (the corpus as reasoning) and agent errors (as messages)
    server.command("step?bars=12")
    expect(page.locator(".arena-decisions .row").first).to_be_visible(timeout=15_000)

    # Assert: every label is a literal option of the fill filter and the decision filter
    options = page.evaluate(TEXTS_JS, CHOICES)
    for key in LABELS:
        assert options.count(CORPUS[key]) >= 2, key
    shown = page.evaluate(TEXT_JS)
    for key in (*LABELS, *SYMBOLS):
        assert CORPUS[key] in shown, key
    reasons = dash.keyed("arena-decisions")
    assert any(r.get("Reasoning") == ALL for r in reasons)
    errors = [r for r in dash.keyed("arena-events") if ALL in "".join(r.values())]
    assert errors, "the agent's error text is in the event log"
    # the equity legend and hover name each agent as text
    assert [e["label"] for e in dash.legend()][:len(LABELS)] == [CORPUS[k] for k in LABELS]
    for i, key in enumerate(LABELS):
        _, tip = dash.hover_equity(f"a{i}")
        assert f"agent:\t{CORPUS[key]}\n" in tip, (key, tip)
    assert_nothing_ran(page)


@pytest.mark.slow
def test_an_uploaded_file_name_is_shown_as_text(live_server, page, tmp_path):
    # Arrange: a broken config whose file name is markup
    upload = tmp_path / f"{CORPUS['img']}.toml"
    upload.write_text("this is [not toml")
    Dashboard(page, live_server).open()
    page.get_by_role("button", name="Settings").click()  # the form comes with the card

    # Act
    page.locator("input[type=file]").set_input_files(str(upload))

    # Assert: the error names the file, literally
    message = f"{upload.name}: not valid TOML"
    assert wait_until(lambda: message in page.evaluate(TEXT_JS), 15), message
    assert_nothing_ran(page)


@pytest.mark.slow
def test_replay_run_picker_and_compare_show_hostile_runs_as_text(recordings, page):
    # Arrange: `arena replay` on a hostile recording, another one beside it
    port = free_port()
    run_dir = recordings
    server = Server([str(ARENA), "replay", CORPUS[RUN_IDS[0]], "--run-dir", str(run_dir),
                     "--port", str(port), "--no-show"], server_env(run_dir), port,
                    run_dir.parent / "replay.log")
    try:
        server.wait_ready()
        dash = Dashboard(page, server).open()
        server.command("step?bars=12")
        expect(page.locator(".arena-decisions .row").first).to_be_visible(timeout=15_000)

        # Act: pick both runs in the compare card and compare them
        runs_box = page.locator(".bk-input-group").filter(
            has_text="Runs (two or more)").locator(".choices").first
        for key in RUN_IDS:
            runs_box.locator("input.choices__input--cloned").click()
            runs_box.locator(".choices__item--choice").filter(has_text=CORPUS[key]).first.click()
            page.keyboard.press("Escape")
        dash.button("Compare").click()

        # Assert: the run picker and the compare card show the run ids as typed
        picker = page.evaluate(TEXTS_JS, OPTIONS)
        for key in RUN_IDS:
            assert any(o.startswith(CORPUS[key]) for o in picker), key
        options = page.evaluate(TEXTS_JS, CHOICES)
        for key in RUN_IDS:
            assert any(o.startswith(CORPUS[key]) for o in options), key
        for key in LABELS:
            assert CORPUS[key] in options, key
        table = page.locator(".tabulator-cell").filter(has_text=CORPUS[RUN_IDS[1]])
        expect(table.first).to_be_visible(timeout=20_000)
        assert wait_until(lambda: all(CORPUS[k] in page.evaluate(TEXT_JS) for k in LABELS), 10)
        assert_nothing_ran(page)
    finally:
        server.stop()


@pytest.mark.slow
def test_exported_report_shows_hostile_text_literally(recordings, page, tmp_path):
    # Arrange
    out = tmp_path / "report.html"

    # Act: the README's export command
    subprocess.run([sys.executable, "-m", "arena.cli", "export", CORPUS[RUN_IDS[0]],
                    "--what", "report", "-o", str(out), "--runs-dir", str(recordings)],
                   check=True, cwd=ROOT, capture_output=True)
    page.goto(out.as_uri())

    # Assert
    shown = page.evaluate(TEXT_JS)
    for key in (*LABELS, *SYMBOLS, RUN_IDS[0]):
        assert CORPUS[key] in shown, key
    assert ALL in shown
    assert_nothing_ran(page)
