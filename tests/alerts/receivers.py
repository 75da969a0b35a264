"""Real notification receivers for the tests, on free loopback ports: an HTTP receiver
(webhooks, Slack, an Alertmanager-compatible `/api/v2/alerts`, a path that hangs) and an
SMTP server (aiosmtpd). They record what arrives; tests poll them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port

__all__ = ["HttpReceiver", "Received", "SmtpReceiver", "verify_signature", "wait_for"]


class Received:
    def __init__(self, path: str, headers: dict[str, str], body: bytes, status: int) -> None:
        self.path = path
        self.headers = headers
        self.body = body
        self.status = status
        self.at = time.time()

    def json(self) -> Any:
        return json.loads(self.body)


def verify_signature(secret: str, received: Received) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("x-beacon-signature", ""))


class HttpReceiver:
    """POSTs to any path are recorded and answered 200 — 503 for paths in `failing`;
    paths starting with `/hang` answer only after `hang_seconds`."""

    def __init__(self, hang_seconds: float = 30.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: list[Received] = []
        self.failing: set[str] = set()
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = 503 if self.path in receiver.failing else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body, status))
                if self.path.startswith("/hang"):
                    receiver._release.wait(hang_seconds)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def release(self) -> None:
        """Answer the requests held at `/hang…` paths now (and later ones at once)."""
        self._release.set()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def at(self, path: str) -> list[Received]:
        """What arrived at `path` and was answered 200."""
        with self._lock:
            return [r for r in self.received if r.path == path and r.status == 200]


class _Handler:
    def __init__(self, sink: list[Message]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        message["X-Test-Rcpt"] = ",".join(envelope.rcpt_tos)
        self.sink.append(message)
        return "250 Message accepted"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on a free port; messages land in `messages`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self._controller = Controller(_Handler(self.messages), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


def wait_for(
    condition: Callable[[], Any], timeout: float = 30.0, message: str = "condition"
) -> Any:
    """Poll `condition` until it returns something truthy; return that (or fail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{message} not met within {timeout}s")
