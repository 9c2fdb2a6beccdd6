"""The rule "a green test is a quiet server", tested on real server processes: a test
whose server logged a traceback fails, one whose server stayed quiet passes."""

from __future__ import annotations

from pathlib import Path

from tests.serverlogs import problems

ROOT = Path(__file__).resolve().parents[1]

INNER_TESTS = '''
import subprocess, sys, urllib.error, urllib.request

from tests.serverlogs import watch

SERVER = """
import http.server, logging
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/boom":
            try:
                1 / 0
            except ZeroDivisionError:
                logging.exception("GET %s failed", self.path)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
"""


def serve_and_get(tmp_path, path):
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                                stderr=out, text=True)
    watch(log, "the test server")
    try:
        port = int(proc.stdout.readline())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_server_that_logged_a_traceback(tmp_path):
    serve_and_get(tmp_path, "/boom")


def test_a_quiet_server(tmp_path):
    serve_and_get(tmp_path, "/fine")
'''


def test_a_test_whose_server_logged_a_traceback_fails(pytester, monkeypatch):
    # Arrange: two tests, each with a real HTTP server process; one of them logs an error
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_inner=INNER_TESTS)

    # Act
    result = pytester.runpytest_subprocess("-p", "tests.serverlogs", "-p", "no:cacheprovider")

    # Assert: both bodies pass, the noisy server's test errors with its traceback shown
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a_server_that_logged_a_traceback*",
                                 "*the test server logged 1 error(s)*",
                                 "*ZeroDivisionError*"])


def test_problems_finds_tracebacks_and_error_lines_but_not_warnings():
    log = ("2026-12-07 18:00:00,001 INFO: started\n"
           "WARNING:bokeh.server.util: Host wildcard '*' will allow connections\n"
           "2026-12-07 18:00:01,002 ERROR: arena API: POST /api/step failed\n"
           "Traceback (most recent call last):\n"
           '  File "x.py", line 1, in <module>\n'
           "ValueError: bad\n"
           "\n"
           "ERROR:tornado.application:Uncaught exception GET /app\n"
           "\n"
           "Task exception was never retrieved\n")
    found = problems(log, context=1)
    assert found == ["2026-12-07 18:00:01,002 ERROR: arena API: POST /api/step failed",
                     "ERROR:tornado.application:Uncaught exception GET /app",
                     "Task exception was never retrieved"]


CLOSED_PAGE = """Task exception was never retrieved
future: <Task finished name='Task-1360' coro=<WebSocketProtocol13.write_message.<locals>.wrapper() done, defined at /x/tornado/websocket.py:1138> exception=WebSocketClosedError()>
Traceback (most recent call last):
  File "/x/tornado/websocket.py", line 1140, in wrapper
    await fut
tornado.iostream.StreamClosedError: Stream is closed

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/x/tornado/websocket.py", line 1142, in wrapper
    raise WebSocketClosedError()
tornado.websocket.WebSocketClosedError
"""


CLOSED_PAGE_DISPATCH = """Task exception was never retrieved
future: <Task finished name='Task-8469' coro=<_dispatch_msgs() done, defined at /x/panel/io/document.py:232> exception=WebSocketClosedError()>
Traceback (most recent call last):
  File "/x/panel/io/document.py", line 250, in _dispatch_msgs
    futures += dispatch_tornado(conn, msg=msg)
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/x/tornado/websocket.py", line 364, in write_message
    raise WebSocketClosedError()
tornado.websocket.WebSocketClosedError
"""


LATE_MESSAGE = """ERROR:bokeh.server.protocol_handler:error handling message
 message: Message 'PATCH-DOC' content: {'events': [{'kind': 'ModelChanged', 'model': {'id': 'p15692'}, 'attr': 'visible', 'new': False}]}
 error: AssertionError()
Traceback (most recent call last):
  File "/x/bokeh/server/protocol_handler.py", line 94, in handle
    work = await handler(message, connection)
                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/x/bokeh/server/session.py", line 295, in patch
    return connection.session._handle_patch(message, connection)
           ^^^^^^^^^^^^^^^^^^
  File "/x/bokeh/server/connection.py", line 65, in session
    assert self._session is not None
           ^^^^^^^^^^^^^^^^^^^^^^^^^
AssertionError
"""


def test_a_message_from_a_page_that_closed_is_not_an_error_but_other_assertions_are():
    assert problems(LATE_MESSAGE + LATE_MESSAGE) == []
    elsewhere = LATE_MESSAGE.replace("bokeh/server/connection.py", "arena/ui/feed.py")
    assert len(problems(elsewhere)) == 1


def test_a_page_closed_mid_write_is_not_an_error_but_anything_else_still_is():
    assert problems(CLOSED_PAGE) == []
    assert problems(CLOSED_PAGE_DISPATCH + "WARNING:bokeh: closed\n" + CLOSED_PAGE) == []
    assert problems(CLOSED_PAGE + CLOSED_PAGE) == []
    assert problems("ERROR:asyncio:" + CLOSED_PAGE) == []  # (logging's basic format)
    assert len(problems("ERROR:asyncio:Task exception was never retrieved\n")) == 1
    other = CLOSED_PAGE.replace("tornado.websocket.WebSocketClosedError", "KeyError: 'a0'")
    assert len(problems(other)) == 1
    assert len(problems(CLOSED_PAGE + "Traceback (most recent call last):\nValueError: x\n")) == 1
