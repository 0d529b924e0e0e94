"""Slow and idle clients cannot take the service down (the default `crane-verify serve`, real sockets).

200 connections hold the two workers' doors open: some trickle a header a byte at a time, some stop
halfway through a request or its body, some are idle kept-alive connections. /healthz keeps answering
within a second or two (a loaded test machine) all along, each of those connections is closed once it falls below the minimum
rate, and an upload that is slow but keeps moving finishes, although it takes longer than the grace.
"""

from __future__ import annotations

import json
import socket
import threading
import time

from .live import http_request

GRACE = 1.0      # seconds a connection may send nothing (5 by default; short here so the test is short)
MIN_RATE = 200   # bytes per second it must keep up after that
SLOW = 200


def _open(address, count: int) -> list[socket.socket]:
    return [socket.create_connection(address, timeout=10) for _ in range(count)]


def test_slow_and_idle_clients_leave_healthz_answering(serve):
    service = serve("--workers", "2", CRANE_SLOW_GRACE=str(GRACE), CRANE_MIN_RATE=str(MIN_RATE))
    address = service.address
    tricklers = _open(address, 60)
    half_heads = _open(address, 40)
    half_bodies = _open(address, 40)
    idle = _open(address, 40)
    keep_alive = _open(address, 20)
    held = tricklers + half_heads + half_bodies + idle + keep_alive
    assert len(held) == SLOW
    try:
        for sock in half_heads:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")            # the head never ends
        for sock in half_bodies:
            sock.sendall(b"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 5000\r\n\r\n{\"qr\": \"")            # the body stops
        for sock in keep_alive:  # one answered request, then silence on a kept-alive connection
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")

        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(0.4):
                for sock in tricklers:
                    try:
                        sock.send(b"X")   # 2.5 bytes a second: below the minimum rate
                    except OSError:
                        pass

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        upload: dict[str, object] = {}

        def slow_upload() -> None:
            # a real request at ~1.5 kB/s, taking about three times the grace in all
            body = json.dumps({"qr": "X" * 4000}).encode()
            head = (f"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            started = time.monotonic()
            with socket.create_connection(address, timeout=10) as sock:
                sock.sendall(head)
                for i in range(0, len(body), 150):
                    time.sleep(0.1)
                    sock.sendall(body[i:i + 150])
                upload["reply"] = sock.recv(4096)
            upload["seconds"] = time.monotonic() - started

        # a client that waits for "100 Continue" before its body (curl does, for uploads) is not kept waiting
        with socket.create_connection(address, timeout=1) as sock:
            body = json.dumps({"qr": "X"}).encode()
            sock.sendall(f"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(body)
            sock.settimeout(10)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
            assert b"HTTP/1.1 200" in reply
        uploader = threading.Thread(target=slow_upload, daemon=True)
        uploader.start()
        worst = 0.0
        deadline = time.monotonic() + 3 * GRACE + 1
        while time.monotonic() < deadline:
            started = time.monotonic()
            status, _, _ = http_request(address, "GET", "/healthz", timeout=5)
            worst = max(worst, time.monotonic() - started)
            assert status == 200
            time.sleep(0.05)
        uploader.join(10)
        stop.set()
        sender.join(2)
        assert worst < 2.0, f"/healthz took {worst:.2f}s under {SLOW} slow connections"
        assert upload["seconds"] > 2 * GRACE and upload["reply"].startswith(b"HTTP/1.1 200"), upload
        for sock in held:   # every slow or idle one closed by the server by now
            sock.settimeout(3)
            try:
                while sock.recv(4096):
                    pass
            except ConnectionResetError:
                pass
    finally:
        for sock in held:
            sock.close()
