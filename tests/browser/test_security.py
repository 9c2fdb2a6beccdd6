"""What agents write is shown as text, never run as HTML; with sign-in on, only
operators can drive the competition from the page (the server checks, not just
the disabled buttons)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.support import Dashboard, start_arena_serve, wait_until

XSS_CONFIG = """
[data]
symbols = ["AAPL"]
start = "2012-01-03"

[[agents]]
agent = "tests.browser.agents_fixture:XssAgent"

[[agents]]
agent = "buy_and_hold"
"""
SCRIPT_TEXT = "<script>window.__pwned=1</script>"
IMG_TEXT = '<img src=x onerror="window.__pwned=2">'
CREDENTIALS = {"alice": "alice-pass-1", "bob": "bob-pass-2"}
COOKIE_SECRET = "browser-test-cookie-secret-0123456789"
READ_ONLY_NOTE = "read-only: signed in as bob (not an operator)"

_IMG_ANYWHERE_JS = """() => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'IMG' && el.getAttribute('src') === 'x') found.push(el.outerHTML);
      if (el.tagName === 'SCRIPT' && el.textContent.includes('__pwned')) found.push(el.outerHTML);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found;
}"""


# -- 5. agent text is text -------------------------------------------------------------------
@pytest.fixture(scope="module")
def xss_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xss")
    config = tmp / "xss.toml"
    config.write_text(XSS_CONFIG)
    server = start_arena_serve(tmp, "--config", str(config))
    server.wait_ready()
    yield server
    server.stop()


@pytest.mark.slow
def test_agent_reasoning_is_shown_literally_and_never_runs(xss_server, page):
    # Arrange: a page listening for any script or image the reasoning might inject
    server = xss_server
    dash = Dashboard(page, server).open()

    # Act: a few bars; the XSS agent logs a decision on every one
    server.command("step?bars=5")
    decisions = page.locator(".arena-decisions .row")
    expect(decisions.first).to_be_visible(timeout=15_000)

    # Assert: the reasoning is on the page as text, on every decision row
    cells = page.locator(".arena-decisions .row span.w").filter(has_text=SCRIPT_TEXT)
    expect(cells.first).to_be_visible()
    shown = cells.all_inner_texts()
    assert len(shown) >= 5
    assert set(shown) == {SCRIPT_TEXT + IMG_TEXT}
    # ... and nothing of it ran or became an element, anywhere (shadow roots too)
    page.wait_for_timeout(1000)  # an <img onerror> would have fired by now
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.evaluate(_IMG_ANYWHERE_JS) == []
    assert "XssAgent" in dash.leaderboard()


# -- 6. operators and viewers ----------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    creds = tmp / "creds.json"
    creds.write_text(json.dumps(CREDENTIALS))
    server = start_arena_serve(tmp, "--basic-auth", str(creds), "--cookie-secret", COOKIE_SECRET,
                               "--operators", "alice")
    server.wait_ready("/login")
    server.auth = ("alice", CREDENTIALS["alice"])  # api() reads as the operator
    yield server
    server.stop()


def sign_in(context, server, user: str) -> Dashboard:
    """Log in through Panel's login page; the dashboard it leads to, ready."""
    page = context.new_page()
    page.goto(server.url + "/login")
    page.locator('input[name="username"]').fill(user)
    page.locator('input[name="password"]').fill(CREDENTIALS[user])
    page.get_by_role("button", name="Login").click()
    page.wait_for_url("**/app**")
    dash = Dashboard(page, server)
    dash.wait_ready()
    return dash


@pytest.mark.slow
def test_viewers_see_read_only_controls_and_cannot_start(auth_server, new_context):
    # Arrange
    server = auth_server
    assert server.status()["state"] == "idle"
    bob = sign_in(new_context(), server, "bob")

    # Assert: bob sees why the controls are off
    expect(bob.page.get_by_text(READ_ONLY_NOTE)).to_be_visible()
    expect(bob.button("Start")).to_be_disabled()

    # Act: click anyway, then even with the button enabled in his browser
    bob.button("Start").click(force=True)
    bob.page.evaluate("""() => {
      const walk = (root) => { for (const el of root.querySelectorAll('button')) {
          if (el.textContent.trim() === 'Start') { el.disabled = false; el.click() } }
        for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot) };
      walk(document) }""")
    bob.page.wait_for_timeout(1500)

    # Assert: the server refused; nothing runs
    assert server.status()["state"] == "idle" and server.status()["bar"] == 0
    code, body = server.api("POST", "start", auth=("bob", CREDENTIALS["bob"]))
    assert code == 403, body
    expect(bob.page.get_by_text(READ_ONLY_NOTE).first).to_be_visible()


@pytest.mark.slow
def test_operators_can_start_from_the_page(auth_server, new_context):
    # Arrange
    server = auth_server
    if server.status()["state"] != "idle":
        server.command("reset")
    alice = sign_in(new_context(), server, "alice")
    expect(alice.page.get_by_text("read-only:").first).to_be_hidden()

    # Act
    expect(alice.button("Start")).to_be_enabled()
    alice.button("Start").click()

    # Assert
    assert wait_until(lambda: server.status()["state"] == "running", 5), server.status()
    server.command("pause")
