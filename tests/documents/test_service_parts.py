"""The service's parts for e-certificate files, without a running service: the decode pool's bound and the
sealed demo documents (made once, kept when unchanged, verified against the demo seal root)."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.documents import load_pem_certificates, verify_document
from verify_api import create_app, demo
from verify_api.config import Config
from verify_api.decode_pool import DecodePool, PoolBusy

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def test_a_full_pool_refuses_at_once_and_takes_work_again_when_a_slot_frees(tmp_path):
    pool = DecodePool(tmp_path / "slots", slots=1)
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(10)
        return "first"

    holder = threading.Thread(target=lambda: results.append(pool.run(slow)))
    results: list[str] = []
    holder.start()
    assert started.wait(10)
    with pytest.raises(PoolBusy):
        pool.run(lambda: "second")
    # another process sharing the data directory sees the same slot taken
    with pytest.raises(PoolBusy):
        DecodePool(tmp_path / "slots", slots=1).run(lambda: "elsewhere")
    release.set()
    holder.join(10)
    assert results == ["first"]
    assert pool.run(lambda: "third") == "third"


def test_a_job_that_outlasts_the_wait_keeps_its_slot_until_it_ends(tmp_path):
    pool = DecodePool(tmp_path / "slots", slots=1, timeout_s=0.05)
    release = threading.Event()
    with pytest.raises(PoolBusy):
        pool.run(lambda: release.wait(10))
    with pytest.raises(PoolBusy):           # the request gave up; the work it started still counts
        pool.run(lambda: "more")
    release.set()


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> tuple[Path, list[demo.DemoCertificate], Path]:
    data_dir = tmp_path_factory.mktemp("demo-documents")
    certificates = demo.demo_certificates(demo.ensure_keys(data_dir), "https://verify.example.cn")
    manifest = demo.write_manifest(data_dir, certificates, "https://verify.example.cn", data_dir / "trust" / "root.pub.pem")
    demo.write_documents(data_dir, certificates, manifest, NOW)
    return data_dir, certificates, manifest


def test_each_electronic_demo_certificate_has_a_sealed_file_that_verifies_under_the_demo_seal_root(documents):
    data_dir, certificates, _ = documents
    files = sorted((data_dir / "demo" / "ofd").glob("*.ofd"))
    assert len(files) == sum(1 for c in certificates if c.qr_text)
    roots = load_pem_certificates(demo.seal_root_path(data_dir).read_bytes())
    report = verify_document(files[0].read_bytes(), NOW, roots)
    assert report.intact and all(s.trusted for s in report.signatures)
    assert verify_document(files[0].read_bytes(), NOW).signatures[0].trusted is False


def test_making_them_again_redoes_only_a_changed_file(documents):
    data_dir, certificates, manifest = documents
    folder = data_dir / "demo" / "ofd"
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.ofd")}
    changed = sorted(folder.glob("*.ofd"))[1]
    changed.write_bytes(changed.read_bytes()[:-1] + b"\x00")
    demo.write_documents(data_dir, certificates, manifest, NOW)
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.ofd")}
    assert [name for name in before if before[name] != after[name]] == [changed.name]
    assert verify_document(changed.read_bytes(), NOW).intact


def test_uploads_are_rate_limited_like_the_other_public_endpoints(tmp_path, redis_url):
    app = create_app(Config(data_dir=tmp_path, redis_url=redis_url, rate_limit="2/minute"))
    client = app.test_client()
    answers = [client.post(path, data={"file": (io.BytesIO(b"not a file"), "x.ofd")}).status_code
               for path in ("/api/v1/verify-file", "/file", "/api/v1/verify-file", "/file")]
    assert answers == [415, 415, 429, 429]      # one budget per client over the public pages and API
