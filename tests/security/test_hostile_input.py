"""Hostile requests: oversized bodies, zlib bombs, deep CBOR and JSON, invalid UTF-8, NUL bytes, huge
headers and query strings. Each gets a clear answer within a second, never a 5xx and never `valid`.

The header, request-line and body limits are gunicorn's and Flask's, so those tests go over real HTTP
(raw sockets, so nothing in a client library tidies the request up) to `crane-verify serve`.
"""

from __future__ import annotations

import gzip
import json
import urllib.parse
from datetime import UTC, datetime

import pytest

from keys.samples import CITIES
from tests.reliability.live import LiveService, bearer, http_request, raw_request, signed_certificate

from . import hostile

SECOND = 1.0


@pytest.fixture(scope="module")
def hostile_texts(live: LiveService) -> dict[str, str]:
    from keys.algorithms import PrivateKey

    key = PrivateKey.from_pem((live.data_dir / "keys" / "issuer-210100.key.pem").read_bytes())
    record = _record()
    signed_at = datetime(2025, 6, 1, tzinfo=UTC)
    valid = next(c["qr_text"] for c in live.manifest()["certificates"] if c["expected_status"] == "valid")
    return {
        "zlib bomb (signed)": hostile.zlib_bomb(key),
        "deep CBOR": hostile.deep_cbor(),
        "deep CBOR in signed claims": hostile.deep_signed_claims(key),
        "invalid UTF-8 in signed claims": hostile.invalid_utf8_claims(key, record, signed_at),
        "duplicate map key in signed claims": hostile.duplicate_key_claims(key, record, signed_at),
        "NUL bytes": "\x00" * 50 + valid + "\x00",
        "NUL inside the payload": valid[:-20] + "\x00" + valid[-19:],
        "lone surrogate escapes": valid[:-5] + "\udcff\ud800",
        "right-to-left override": "\u202e" + valid,
        "trailing bytes after COSE": hostile.text_of(hostile.cose_of(valid) + b"\x00"),
        "longer than the limit": valid + "A" * 3000,
        "only the prefix": hostile.PREFIX,
        "valid": valid,
    }


def _record() -> dict:
    import random

    from keys.samples import sample_record

    return sample_record(random.Random(5), 5005, city=CITIES[0])


def _not_valid(answer: dict) -> None:
    assert answer["signature"]["result"] != "valid" and answer["verdict"]["ok"] is False, answer


def test_hostile_qr_texts_get_a_calm_answer_quickly(live: LiveService, hostile_texts):
    for name, text in hostile_texts.items():
        if name == "valid":
            continue
        body = json.dumps({"qr": text}).encode()   # \u escapes: the JSON itself is valid
        for method, path, payload in (("POST", "/api/v1/verify", body),
                                      ("GET", "/api/v1/verify?qr=" + urllib.parse.quote(text, errors="surrogatepass")
                                       if "\udcff" not in text else "/api/v1/verify?qr=%ED%B3%BF", None)):
            headers = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            if payload is not None:
                headers += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            status, response, elapsed = raw_request(live.address, headers.encode() + b"\r\n" + (payload or b""))
            assert elapsed < SECOND, (name, method, elapsed)
            assert status in (200, 413), (name, method, response[:300])
            if status == 200:
                _not_valid(json.loads(response.split(b"\r\n\r\n", 1)[1]))
        segment = text.rpartition("/")[2]
        if len(text) < 4000 and segment != hostile_texts["valid"].rpartition("/")[2]:
            quoted = urllib.parse.quote(segment, errors="surrogatepass")
            status, response, elapsed = raw_request(
                live.address, f"GET /V/{quoted} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert elapsed < SECOND and status < 500, (name, status, response[:300])
            assert "证书有效" not in response.decode("utf-8", "replace"), name


def _raw(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"",
         extra: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: verify.example.cn", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines)).encode("latin-1") + extra + b"\r\n\r\n" + body


def _json_request(body: bytes, path: str = "/api/v1/verify", headers: dict[str, str] | None = None) -> bytes:
    return _raw("POST", path, {"Content-Type": "application/json", "Content-Length": str(len(body)),
                               **(headers or {})}, body)


def _chunked(body: bytes, path: str = "/api/v1/verify") -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192]) for i in range(0, len(body), 8192))
    return _raw("POST", path, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, chunks + b"0\r\n\r\n")


BIG_JSON = json.dumps({"qr": "A" * 200_000}).encode()
BOMB = gzip.compress(json.dumps({"qr": "A" * 20_000_000}).encode())

RAW_REQUESTS = {
    # bodies
    "oversized body": (_json_request(BIG_JSON), {413}),
    "oversized chunked body": (_chunked(BIG_JSON), {413}),
    "Content-Length far past the limit, no body sent": (
        _raw("POST", "/api/v1/verify", {"Content-Type": "application/json", "Content-Length": str(10**12)}), {413}),
    "gzip bomb with Content-Encoding (not inflated)": (
        _json_request(BOMB, headers={"Content-Encoding": "gzip"}), {400}),
    "deeply nested JSON": (_json_request(b"[" * 60_000), {400}),
    "deeply nested JSON objects": (_json_request(b'{"qr":' * 10_000), {400}),
    "deeply nested JSON past the body limit": (_json_request(b'{"qr":' * 20_000), {413}),
    "invalid UTF-8 in the JSON body": (_json_request(b'{"qr": "\xff\xfe\xc0\x80"}'), {400}),
    "NUL bytes in the JSON body": (_json_request(b'{"qr": "\x00\x00"}'), {400}),
    "escaped NUL in a JSON string": (_json_request(b'{"qr": "\\u0000AB\\u0000"}'), {200}),
    "not JSON at all": (_json_request(b"\x00\x01\x02\xff"), {400}),
    "form body": (_raw("POST", "/api/v1/verify", {"Content-Type": "application/x-www-form-urlencoded",
                                                  "Content-Length": "4"}, b"qr=x"), {415}),
    "Content-Length and Transfer-Encoding together": (
        _raw("POST", "/api/v1/verify", {"Content-Type": "application/json", "Content-Length": "4",
                                        "Transfer-Encoding": "chunked"}, b"0\r\n\r\n"), {400}),
    "bad chunk size": (_raw("POST", "/api/v1/verify", {"Content-Type": "application/json",
                                                      "Transfer-Encoding": "chunked"}, b"zz\r\nabc\r\n0\r\n\r\n"),
                       {400}),
    "negative Content-Length": (_raw("POST", "/api/v1/verify", {"Content-Type": "application/json",
                                                               "Content-Length": "-1"}), {400}),
    # query strings and paths
    "query just over the app's limit": (_raw("GET", "/api/v1/verify?qr=" + "A" * 5000), {413}),
    "query past the request-line limit": (_raw("GET", "/api/v1/verify?qr=" + "A" * 20_000), {414}),
    "huge query of many parameters": (_raw("GET", "/api/v1/verify?" + "&".join(["a=b"] * 2000)), {400}),
    "huge query of many parameters past the request-line limit": (
        _raw("GET", "/api/v1/verify?" + "&".join(["a=b"] * 3000)), {414}),
    "invalid UTF-8 in the query": (_raw("GET", "/api/v1/verify?qr=%FF%FE%C0%80"), {200}),
    "NUL in the query": (_raw("GET", "/api/v1/verify?qr=AB%00CD"), {200}),
    "raw NUL in the request line": (_raw("GET", "/api/v1/verify?qr=AB\x00CD"), {400}),
    "invalid UTF-8 in the path": (_raw("GET", "/V/%FF%FE%00"), {200, 404}),
    "NUL in a registration number": (_raw("GET", "/api/v1/certificates/A%00B?record_no=%00"), {404}),
    "huge path": (_raw("GET", "/V/" + "A" * 6000), {413}),
    "status feed cursor of odd digits": (_raw("GET", "/api/v1/status-feed?since=%C2%B2-%C2%B2"), {400}),
    "status feed cursor past 64 bits": (_raw("GET", "/api/v1/status-feed?since=99999999999999999999-1"), {400}),
    # headers
    "one huge header": (_raw("GET", "/api/v1/verify?qr=x", {"X-Big": "a" * 100_000}), {400, 431}),
    "too many headers": (_raw("GET", "/api/v1/verify?qr=x", {f"X-H{n}": "v" for n in range(200)}), {400, 431}),
    "header with a NUL byte": (_raw("GET", "/api/v1/verify?qr=x", {"X-Nul": "a\x00b"}), {400}),
    "header with invalid UTF-8": (_raw("GET", "/api/v1/verify?qr=x", extra=b"\r\nX-Bin: \xff\xfe\xc0"), {200, 400}),
    "header without a colon": (_raw("GET", "/api/v1/verify?qr=x", extra=b"\r\nthis is not a header"), {400}),
    "huge Authorization header": (_raw("GET", "/api/v1/issuer/audit", {"Authorization": "Bearer " + "x" * 8000}),
                                  {400, 401, 431}),
    "X-Forwarded-For of a thousand hops": (
        _raw("GET", "/api/v1/verify?qr=x", {"X-Forwarded-For": ",".join(["10.0.0.1"] * 1000)}), {200, 400, 431}),
    # request lines
    "unknown method": (_raw("FROB", "/api/v1/verify"), {400, 405}),
    "method of 100 letters": (_raw("A" * 100, "/"), {400}),
    "HTTP/0.9 style request": (b"GET /\r\n\r\n", {400}),
    "wrong HTTP version": (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", {400, 505}),
    "absolute URI of another host": (_raw("GET", "http://evil.example/api/v1/verify?qr=x"), {200, 400}),
}


@pytest.mark.parametrize("name", list(RAW_REQUESTS))
def test_malformed_requests_get_a_clear_answer_within_a_second(live: LiveService, name: str):
    request, expected = RAW_REQUESTS[name]
    status, response, elapsed = raw_request(live.address, request)
    assert elapsed < SECOND, f"{name}: {elapsed:.2f}s"
    assert status in expected, f"{name}: {response[:400]!r}"
    head, _, body = response.partition(b"\r\n\r\n")
    if b"application/json" in head and status == 200:
        _not_valid(json.loads(body))
    if b"application/json" in head and status >= 400:
        assert set(json.loads(body)) == {"code", "message"}, body


@pytest.mark.parametrize("path", ["/api/v1/issuer/certificates", "/api/v1/issuer/certificates/X/status",
                                  "/api/v1/issuer/certificates/X/dismantling", "/api/v1/issuer/certificates/X/corrections"])
def test_issuer_endpoints_refuse_oversized_and_nested_bodies(live: LiveService, path: str):
    token = _token(live)
    for body, expected in ((BIG_JSON, 413), (b"[" * 60_000, 400), (b'{"record": ' * 5_000, 400)):
        status, response, elapsed = raw_request(live.address, _json_request(body, path, bearer(token)))
        assert elapsed < SECOND and status == expected, (path, response[:300])
    status, response, _ = raw_request(live.address, _chunked(BIG_JSON, path))
    assert status in (401, 413), response[:300]   # no token: refused before the body is read, or too large


def _token(live: LiveService) -> str:
    if not hasattr(live, "_test_token"):
        from verify_api.store import Store

        store = Store(live.env["REDIS_URL"], timeout=5)
        live._test_token = store.create_token("210100", datetime.now(UTC))[1]
        store.client.close()
    return live._test_token


# --- in-process: the same refusals, where gunicorn is not what decides ----------------------------------

@pytest.mark.parametrize("since", ["²-²", "١-١", "99999999999999999999-1", "1-99999999999999999999",
                                   "18446744073709551616-0", "1-1-1", "-1", "abc", "1 -1", "0x10-1", "18446744073709551615-18446744073709551615", ""])
def test_bad_cursors_are_400(client, token, since):
    feed = client.get("/api/v1/status-feed", query_string={"since": since})
    assert feed.status_code == 400, feed.get_json()
    audit = client.get("/api/v1/issuer/audit", query_string={"since": since}, headers=bearer(token))
    assert audit.status_code == 400, audit.get_json()


@pytest.mark.parametrize("since", ["0", "1-0", "1763900000000-3", "18446744073709551614-18446744073709551615"])
def test_good_cursors_are_200(client, token, since):
    assert client.get("/api/v1/status-feed", query_string={"since": since}).status_code == 200
    assert client.get("/api/v1/issuer/audit", query_string={"since": since}, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+08:00", "0001-01-01T00:00:00+23:59", "1-01-01",
                                    "2025-13-01T00:00:00+08:00", "2025-09-01T10:00:00", 20250901, None, ["x"]])
def test_out_of_range_times_are_400(client, token, demo_keys, moment):
    raw, qr = signed_certificate(demo_keys, 5100)
    client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr}, headers=bearer(token))
    url = f"/api/v1/issuer/certificates/{urllib.parse.quote(raw['registration_no'])}/dismantling"
    response = client.post(url, json={"completed_at": moment}, headers=bearer(token))
    assert response.status_code == 400 and response.get_json()["code"] == "bad_time", response.get_json()


def test_every_post_endpoint_refuses_deep_json(client, token):
    for path in ("/api/v1/verify", "/api/v1/issuer/certificates", "/api/v1/issuer/certificates/X/status",
                 "/api/v1/issuer/certificates/X/dismantling", "/api/v1/issuer/certificates/X/corrections"):
        for body in ("[" * 50_000, '{"a":' * 10_000, '{"qr": ' + "[" * 30_000):
            response = client.post(path, data=body, content_type="application/json", headers=bearer(token))
            assert response.status_code == 400 and response.get_json()["code"] == "bad_json", (path, response.data)


def test_http_helpers_work(live: LiveService):
    status, _, body = http_request(live.address, "GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_405_names_the_allowed_methods(client):
    response = client.delete("/api/v1/verify")
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.get_json()["code"] == "method_not_allowed"
    page = client.post("/healthz", headers={"Accept": "text/html"})
    assert page.status_code == 405 and "GET" in page.headers["Allow"]
    # a registration number may hold "/", but /certificates/N/status is the status action's path only
    action = client.get("/api/v1/issuer/certificates/X/status")
    assert action.status_code == 405 and action.headers["Allow"].split(", ").count("GET") == 0
