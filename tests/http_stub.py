"""A real HTTP server on a free loopback port that answers as a test says: a lying service, a replayed
feed, a network path that changes what passes. Stopped when the block ends, even when the test fails."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


# (method, path with query, request body) -> the reply
Answer = Callable[[str, str, bytes], Reply]


@contextmanager
def stub_server(answer: Answer) -> Iterator[str]:
    """Serve `answer` for every GET and POST; yields the server's base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            reply = answer(self.command, self.path, body)
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _reply  # noqa: N815 - http.server's names

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def upstream(base_url: str, path: str, body: bytes | None = None) -> bytes:
    """What the real service answers, for a stub that passes requests on and changes the answers."""
    request = urllib.request.Request(base_url + path, data=body, method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our own loopback URL
        return resp.read()


@contextmanager
def serve_app(app: object) -> Iterator[str]:
    """A Flask app served over real HTTP on a free loopback port (threaded), shut down when the block ends."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, name="app-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
