"""A green test is a quiet server: a test fails when a server it talks to logged a
traceback or an unhandled error meanwhile.

Every test that starts a server process sends the process's output to a log file and
watches it (:func:`watch`). After each test the ``quiet_servers`` fixture (autouse,
loaded by tests/conftest.py) reads what the watched logs gained during the test and
fails the test if any of it is an error; :meth:`ServerLog.check` does the same on
demand (servers check once more as they stop, for what shutting down logged).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

#: What a Python server logs when something went wrong that nobody handled:
#: a traceback, a logging ERROR/CRITICAL line (Panel, Bokeh and tornado log
#: "ERROR: ..." or "... ERROR ..." with the level name), asyncio's orphans.
PROBLEM = re.compile(
    r"Traceback \(most recent call last\)"
    r"|^(?:\S+ \S+ )?(?:ERROR|CRITICAL)\b"
    r"|^(?:ERROR|CRITICAL):"
    r"|Task exception was never retrieved"
    r"|Exception in callback"
    r"|Uncaught exception",
    re.MULTILINE)

_TB = (r"Traceback \(most recent call last\):\n(?:[ \t][^\n]*\n)+"
       r"tornado\.(?:iostream\.StreamClosedError|websocket\.WebSocketClosedError)[^\n]*\n")
#: The one report that is not an error of ours: a page closed while Panel was still
#: writing a patch to its websocket. Panel writes patches straight to the socket
#: (``panel.io.document._dispatch_msgs`` → ``dispatch_tornado``) and awaits the writes
#: later; when the socket closes in between, asyncio reports the orphaned write (or
#: dispatch) task as "Task exception was never retrieved ... WebSocketClosedError".
#: Only those exact reports, traceback and all, are passed over; anything else in
#: the log still fails the test.
CLOSED_SOCKET = re.compile(
    r"(?:ERROR:asyncio:)?Task exception was never retrieved\nfuture: <Task [^\n]*"
    r"(?:WebSocketProtocol13\.write_message|_dispatch_msgs\(\))"
    r"[^\n]*exception=WebSocketClosedError\(\)>\n" + _TB
    + r"(?:\nDuring handling of the above exception, another exception occurred:\n\n" + _TB
    + r")*")

#: The other one: a page whose socket was closing when Bokeh's keep-alive pinged it.
#: The failed ping makes Bokeh drop the connection's session
#: (``BokehTornado._keep_alive`` → ``client_lost``); the messages still queued from
#: that page (a table's "sync" as it rendered, a visibility change) and then the
#: socket's own ``on_close`` reach ``connection.session`` and fail its
#: ``assert self._session is not None``, which Bokeh logs with a traceback. Only
#: reports whose traceback ends in that assertion are passed over.
DETACHED_SESSION = re.compile(
    r"(?:ERROR:bokeh\.server\.protocol_handler:error handling message\n"
    r" message: Message '[A-Z-]+' content: [^\n]*\n error: AssertionError\(\)\n"
    r"|(?:ERROR:tornado\.application:)?Uncaught exception GET \S+/ws \([^\n]*\)\n"
    r"HTTPServerRequest\([^\n]*\)\n)"
    r"Traceback \(most recent call last\):\n(?:[ \t][^\n]*\n)+?"
    r"  File \"[^\"\n]*bokeh/server/connection\.py\", line \d+, in session\n"
    r"    assert self\._session is not None\n(?:[ \t]+\^+\n)?"
    r"AssertionError\n")

#: what a page closing mid-conversation makes the libraries log (not errors of ours)
CLOSED_PAGE = (CLOSED_SOCKET, DETACHED_SESSION)

_WATCHED: list[ServerLog] = []


def problems(text: str, context: int = 12) -> list[str]:
    """Each error in ``text`` with the lines after it (the traceback's body); an
    error line followed (within three lines) by its traceback counts once. A closed page's
    orphaned websocket write or late message (:data:`CLOSED_PAGE`) is not an error."""
    text = text.replace("\r\n", "\n")
    for pattern in CLOSED_PAGE:
        text = pattern.sub("", text)
    lines = text.splitlines()
    out, last = [], -10
    for i, line in enumerate(lines):
        if PROBLEM.search(line):
            if not (line.startswith("Traceback") and i <= last + 3):  # not its traceback
                out.append("\n".join(lines[i:i + context]))
            last = i
    return out


class ServerLog:
    """A server's log file and how much of it has been checked."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = Path(path), name
        self.offset = 0

    def news(self) -> str:
        """What the log gained since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return ""
        self.offset += len(data)
        return data.decode("utf-8", "replace")

    def check(self) -> None:
        """Fail (AssertionError) if the server logged an error since the last check."""
        found = problems(self.news())
        if found:
            raise AssertionError(f"{self.name} logged {len(found)} error(s) ({self.path}):\n\n"
                                 + "\n\n".join(found[:3]))

    def close(self) -> None:
        """The last check; the log is not watched after it."""
        if self in _WATCHED:
            _WATCHED.remove(self)
        self.check()


def watch(path: Path, name: str = "the server") -> ServerLog:
    """Watch ``path`` (a server's output) from now on."""
    log = ServerLog(path, name)
    _WATCHED.append(log)
    return log


@pytest.fixture(autouse=True)
def quiet_servers():
    """After each test: the watched servers logged no error during it."""
    yield
    failures = []
    for log in list(_WATCHED):
        try:
            log.check()
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
