"""gunicorn's threaded worker with each request read on its event loop, so a thread only ever runs a whole request.

gunicorn's own gthread worker hands a connection to a thread as soon as a byte arrives, and the thread then
reads the rest with no deadline: two clients trickling a header a byte every few seconds hold two threads
for good. Here the event loop gathers the head and a body of known length without blocking anyone, and a
connection must keep up a minimum transfer rate: it gets `grace` seconds plus one second for every
`min_rate` bytes it has sent. An idle or stalled socket is closed after the grace; a large upload over a
weak site link keeps going as long as it moves. The threads only see complete requests (a chunked body,
rare and never sent by the nginx in front, is read by the thread with a per-read timeout).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import time
from dataclasses import dataclass, field
from functools import partial

from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

GRACE_S = float(os.environ.get("CRANE_SLOW_GRACE", "5"))
MIN_RATE = float(os.environ.get("CRANE_MIN_RATE", "1024"))   # bytes per second
IO_TIMEOUT_S = float(os.environ.get("CRANE_READ_TIMEOUT", "5"))  # a thread's read or write that makes no progress
MAX_HEAD = 64 * 1024          # gunicorn's limits refuse far less (line 8190, 60 fields); this only bounds the buffer
MAX_BUFFERED_BODY = 11 * 1024 * 1024  # the largest upload the app takes (an e-certificate file, 10 MiB), and some

_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,12})[ \t]*$", re.IGNORECASE | re.MULTILINE)
_TRANSFER_ENCODING = re.compile(rb"^transfer-encoding[ \t]*:", re.IGNORECASE | re.MULTILINE)
_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*$", re.IGNORECASE | re.MULTILINE)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass
class Incoming:
    """A request being gathered on the event loop."""

    started: float
    data: bytearray = field(default_factory=bytearray)
    needed: int | None = None   # bytes of head and body, once the head is in
    expects_continue: bool = False   # the client waits for "100 Continue" before it sends the body

    def overdue(self, now: float) -> bool:
        return now - self.started > GRACE_S + len(self.data) / MIN_RATE

    def complete(self) -> bool:
        """Whether a thread can take the request now; learns the length once the head has arrived."""
        if self.needed is None:
            end = self.data.find(_HEAD_END)
            if end < 0:
                return len(self.data) > MAX_HEAD   # too long: gunicorn's parser refuses it
            head = bytes(self.data[:end])
            lengths = _CONTENT_LENGTH.findall(head)
            if _TRANSFER_ENCODING.search(head) or len(lengths) > 1 or \
                    (lengths and int(lengths[0]) > MAX_BUFFERED_BODY):
                return True   # the parser decides; what is left of the body is read by the thread
            self.needed = end + len(_HEAD_END) + (int(lengths[0]) if lengths else 0)
            self.expects_continue = bool(lengths) and bool(_EXPECT_CONTINUE.search(head)) \
                and b"HTTP/1.1\r\n" in head[:head.find(b"\r\n") + 2]
        return len(self.data) >= self.needed


class GatheringThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gathering: dict[TConn, Incoming] = {}

    def accept(self, listener):
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        self._gather(TConn(self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection sends its next request: gather it like a new one."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._gather(conn)

    def _gather(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self.gathering[conn] = Incoming(time.monotonic())
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: TConn, _sock) -> None:
        incoming = self.gathering[conn]
        try:
            data = conn.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        incoming.data += data
        complete = incoming.complete()
        if incoming.expects_continue:
            # Answered here, or the client (curl, for one) waits a second before sending the body. gunicorn
            # sends its own once the request is complete; a client reads any number of 1xx (RFC 9110 15.2).
            incoming.expects_continue = False
            if not complete:
                with contextlib.suppress(OSError):
                    conn.sock.send(_CONTINUE)
        if complete:
            self.poller.unregister(conn.sock)
            del self.gathering[conn]
            conn.buffered = bytes(incoming.data)
            conn.data_ready = True
            self.enqueue_req(conn)

    def _drop(self, conn: TConn) -> None:
        self.poller.unregister(conn.sock)
        del self.gathering[conn]
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """Runs at least once a second on the event loop: close connections slower than the minimum rate."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, incoming in self.gathering.items() if incoming.overdue(now)]:
            self._drop(conn)

    def handle(self, conn):
        """One request, already read, unless it is chunked or larger than the buffer (then bounded per read)."""
        req = None
        buffered, conn.buffered = getattr(conn, "buffered", b""), b""
        try:
            conn.init()
            conn.sock.settimeout(IO_TIMEOUT_S)
            if buffered:
                conn.parser.unreader.unread(buffered)
            req = next(conn.parser)
            if not req:
                return False
            return self._keepalive_after(conn, self.handle_request(req, conn))
        except (http.errors.NoMoreData, StopIteration, TimeoutError, ConnectionError):
            pass   # the client left, stalled, or ended the connection: nothing to answer
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ENOTCONN, errno.EBADF):
                self.log.exception("Socket error processing request.")
        except Exception as exc:  # noqa: BLE001 - gunicorn answers 400/500 and logs as its own worker does
            self.handle_error(req, conn.sock, conn.client, exc)
        return False

