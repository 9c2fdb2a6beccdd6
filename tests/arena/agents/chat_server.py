"""A real HTTP server on 127.0.0.1 that speaks the chat-completions protocol with
scripted answers, chosen by the request's model name (tests and benchmarks).

=============  ===============================================================
model          answer
=============  ===============================================================
valid          JSON: first symbol 0.5 on odd bars, 0.25 on even, confidence 0.8
fence          the same JSON inside a ```json code fence, with prose around it
malformed      JSON cut off half way
range          weight 1.5 for the first symbol
unknown        a weight for the symbol ``TSLA``
slow           valid, after sleeping ``SLOW_SECONDS``
flaky429      HTTP 429 on every odd request of this model, valid on the even ones
error500       HTTP 500 every time
leak           HTTP 400 whose body echoes the bearer token
html           valid, with HTML/script in the reasoning
delay-S        valid, after sleeping S seconds (e.g. delay-0.5)
jitter-A-B     valid, after sleeping uniform(A, B) seconds (seeded per request number)
=============  ===============================================================

Usage: prompt tokens = words in the messages, completion tokens = words in the answer.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_SECONDS = 2.0
HTML_REASONING = '<script>window.__pwned=1</script><img src=x onerror="alert(1)"> & co'
_SYMBOLS = re.compile(r"You trade: ([^.\n]+)\.")
_BAR = re.compile(r"\(bar (\d+)\)")


def answer(symbols: list[str], bar: int, reasoning: str = "steady trend") -> dict:
    weight = 0.5 if bar % 2 else 0.25
    return {"targets": {symbols[0]: weight}, "confidence": 0.8,
            "reasoning": f"{reasoning} at bar {bar}"}


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """Quiet about clients that hang up (a run's agents close their connections
        when it ends); anything else is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ChatServer:
    """Start with ``with ChatServer() as srv:``; ``srv.base_url`` ends in /v1."""

    def __init__(self):
        self.requests: list[dict] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers + body wait ~40 ms for an ACK

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                status, payload, headers = outer.respond(
                    body, {k.lower(): v for k, v in self.headers.items()})
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up
                    pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def respond(self, body: dict, headers: dict) -> tuple[int, dict, dict]:
        model = body["model"]
        prompt = "\n".join(m["content"] for m in body["messages"])
        with self._lock:
            self.requests.append({"model": model, "body": body, "headers": headers})
            n = self._counts[model] = self._counts.get(model, 0) + 1
        m = _SYMBOLS.search(prompt)
        symbols = [s.strip() for s in m.group(1).split(",")] if m else ["SYN"]
        b = _BAR.search(prompt)
        bar = int(b.group(1)) if b else 0
        ok = answer(symbols, bar)
        if model == "valid":
            text = json.dumps(ok)
        elif model == "fence":
            text = "Here is my decision:\n```json\n" + json.dumps(ok, indent=1) + "\n```\nDone."
        elif model == "malformed":
            text = json.dumps(ok)[:25]
        elif model == "range":
            text = json.dumps({**ok, "targets": {symbols[0]: 1.5}})
        elif model == "unknown":
            text = json.dumps({**ok, "targets": {"TSLA": 0.1}})
        elif model == "slow":
            time.sleep(SLOW_SECONDS)
            text = json.dumps(ok)
        elif model == "flaky429":
            if n % 2:
                return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {}
            text = json.dumps(ok)
        elif model == "error500":
            return 500, {"error": {"message": "model crashed", "type": "server_error"}}, {}
        elif model == "leak":
            return 400, {"error": {"message": "bad key " + headers.get("authorization", "")}}, {}
        elif model == "html":
            text = json.dumps(answer(symbols, bar, HTML_REASONING))
        elif model.startswith("jitter-"):
            lo, hi = map(float, model.split("-")[1:3])
            time.sleep(random.Random(n).uniform(lo, hi))
            text = json.dumps(ok)
        elif model.startswith("delay-"):
            time.sleep(float(model.split("-", 1)[1]))
            text = json.dumps(ok)
        else:
            return 404, {"error": {"message": f"no such model {model!r}"}}, {}
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return 200, {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 0,
                     "model": model, "usage": usage,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}]}, {}

    def count(self, model: str) -> int:
        with self._lock:
            return self._counts.get(model, 0)


def main() -> None:
    """``python -m tests.arena.agents.chat_server``: serve until stdin closes (benchmarks)."""
    with ChatServer() as srv:
        print(srv.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
