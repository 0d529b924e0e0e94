"""crane-scan --upload: each check sent as an inspection record; queued while the service cannot be reached,
sent on the next run, never twice."""

from __future__ import annotations

import io
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keys.cli_env import Environment, ExitStatus
from scanner.cli import main
from scanner.upload import UploadQueue, queue_path
from tests.http_stub import serve_app

from .conftest import bearer, by_state


@pytest.fixture
def live_url(app):
    with serve_app(app) as url:
        yield url


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def scan(clock, scanner_dir, *args: str) -> tuple[ExitStatus, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, stdout_isatty=False, now=clock,
                      vars={"CRANE_DATA_DIR": str(scanner_dir)})
    return main(["scan", *args], env), err.getvalue()


def test_checks_are_queued_offline_and_sent_once_on_the_next_run(live_url, client, manifest, inspector, supervisor,
                                                                 clock, tmp_path):
    revoked = by_state(manifest, "revoked")[0]
    valid = by_state(manifest, "valid")[0]
    scanner_dir = tmp_path / "scanner-data"
    # the service that answers the checks is up, the one that takes uploads is not (poor signal on site)
    status, err = scan(clock, scanner_dir, revoked["qr_png"], valid["qr_png"], "--online", live_url,
                       "--upload", closed_port(), "--token", inspector, "--expect-record", valid["record_no"])
    assert status == ExitStatus.NOT_OK  # the revoked one is not ok
    assert "2 records queued for the next run" in err and "上传失败" in err
    queue = UploadQueue(queue_path(scanner_dir))
    queued = queue.pending()
    assert len(queued) == 2 and {q["shown"]["state"] for q in queued} == {"revoked", "valid"}
    assert {q["plate"]["record_no"] for q in queued} == {"mismatch", "match"}
    assert all(q["shown"]["mode"] == "online" for q in queued)

    clock.advance(minutes=30)
    status, err = scan(clock, scanner_dir, valid["qr_png"], "--online", live_url, "--upload", live_url,
                       "--token", inspector)
    assert status == ExitStatus.OK
    assert "uploaded 3 inspection records (0 already there)" in err
    assert queue.count() == 0
    # a run whose answer was lost sends the same ids again: the service keeps one of each
    for item in queued:
        queue.add(item)
    status, err = scan(clock, scanner_dir, valid["qr_png"], "--online", live_url, "--upload", live_url,
                       "--token", inspector)
    assert "uploaded 1 inspection records (2 already there)" in err
    body = client.get("/api/v1/inspections", headers=bearer(supervisor)).get_json()
    assert len(body["inspections"]) == 4 and len({i["id"] for i in body["inspections"]}) == 4


def test_a_refused_token_keeps_the_queue(live_url, manifest, supervisor, clock, tmp_path):
    scanner_dir = tmp_path / "scanner-data"
    status, err = scan(clock, scanner_dir, by_state(manifest, "valid")[0]["qr_png"], "--online", live_url,
                       "--upload", live_url, "--token", supervisor)
    assert "HTTP 403" in err and "1 records queued" in err
    assert UploadQueue(queue_path(scanner_dir)).count() == 1
    status, err = scan(clock, scanner_dir, by_state(manifest, "valid")[0]["qr_png"], "--online", live_url,
                       "--upload", live_url)
    assert status == ExitStatus.ERROR and "--token" in err


@pytest.fixture
def redirector():
    """A server answering every request with 307 to a second server, which records any Authorization it gets."""
    seen: list[str | None] = []

    class Catcher(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    catcher = ThreadingHTTPServer(("127.0.0.1", 0), Catcher)

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(307)
            self.send_header("Location", f"http://localhost:{catcher.server_address[1]}/steal")
            self.send_header("Content-Length", "0")
            self.end_headers()

        log_message = Catcher.log_message

    redirect = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    servers = (catcher, redirect)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{redirect.server_address[1]}", seen
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(redirector, live_url, manifest, inspector, clock,
                                                                    tmp_path):
    url, seen = redirector
    scanner_dir = tmp_path / "scanner-data"
    status, err = scan(clock, scanner_dir, by_state(manifest, "valid")[0]["qr_png"], "--online", live_url,
                       "--upload", url, "--token", inspector)
    assert seen == []
    assert "未跟随" in err and "HTTP 307" in err and "1 records queued" in err
    assert UploadQueue(queue_path(scanner_dir)).count() == 1


def test_upload_over_plain_http_is_refused_unless_on_this_machine(manifest, inspector, clock, tmp_path):
    status, err = scan(clock, tmp_path / "scanner-data", by_state(manifest, "valid")[0]["qr_png"],
                       "--online", closed_port(), "--upload", "http://verify.example.cn", "--token", inspector)
    assert status == ExitStatus.ERROR and "https://" in err and "上传须用" in err
    assert not queue_path(tmp_path / "scanner-data").exists()


def test_upload_usage_errors_are_chinese_first(manifest, inspector, clock, tmp_path):
    qr = by_state(manifest, "valid")[0]["qr_png"]
    status, err = scan(clock, tmp_path / "scanner-data", qr, "--online", closed_port(), "--upload", closed_port())
    assert status == ExitStatus.ERROR and "需要检查员令牌" in err and "--token" in err
    status, err = scan(clock, tmp_path / "scanner-data", qr, "--online", closed_port(), "--upload", "ftp://x",
                       "--token", inspector)
    assert status == ExitStatus.ERROR and err.index("不是 http(s) 地址") < err.index("not an http(s) URL")
