"""`crane-scan document` and `crane-keys seal`, run as main(args, env) with their own streams and clock."""

from __future__ import annotations

import io
import json
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from keys.cli import main as keys_main
from keys.cli_env import Environment, ExitStatus
from qrdecode.files import PDF_NOTE, PICTURE_NOTE
from scanner.cli import main as scan_main

from .conftest import NOW
from .edit import edited, flip, members


def _env(**vars: str) -> Environment:
    return Environment(stdout=io.StringIO(), stderr=io.StringIO(), vars=vars, now=lambda: NOW, stdout_isatty=False)


@pytest.fixture
def files(issued, pki, tmp_path: Path) -> dict[str, Path]:
    roots = tmp_path / "seal-roots.pem"
    roots.write_bytes(pki.root.certificate_pem())
    demo = tmp_path / "demo.ofd"
    demo.write_bytes(issued.document)
    tampered = tmp_path / "tampered.ofd"
    tampered.write_bytes(edited(issued.document, "Doc_0/Pages/Page_0/Content.xml", flip(500)))
    qr_png = tmp_path / "photo.png"
    qr_png.write_bytes(members(issued.document)["Doc_0/Res/qr.png"])
    return {"roots": roots, "demo": demo, "tampered": tampered, "png": qr_png}


def _document(args: list[str], issued, **vars: str) -> tuple[ExitStatus, Environment]:
    env = _env(CRANE_ROOT_PUB=str(issued.data_dir / "root.pub.pem"), **vars)
    status = scan_main(["document", *args, "--data-dir", str(issued.data_dir)], env)
    return status, env


def test_demo_document_is_intact_trusted_and_its_code_ok(issued, files) -> None:
    status, env = _document([str(files["demo"]), "--json"], issued, CRANE_SEAL_ROOTS=str(files["roots"]))
    line, = env.stdout.getvalue().splitlines()
    out = json.loads(line)
    assert status is ExitStatus.OK
    assert list(out) == ["file", "format", "intact", "signatures", "codes"]
    assert (out["format"], out["intact"], out["signatures"][0]["trusted"]) == ("ofd", True, True)
    code, = out["codes"]
    assert code["text"] == issued.qr_text and code["verdict"]["ok"] is True


def test_one_byte_changed_in_a_page_is_not_intact(issued, files) -> None:
    status, env = _document([str(files["tampered"]), str(files["demo"]), "--json"], issued,
                            CRANE_SEAL_ROOTS=str(files["roots"]))
    tampered, demo = (json.loads(x) for x in env.stdout.getvalue().splitlines())
    assert status is ExitStatus.NOT_OK
    assert tampered["intact"] is False and tampered["signatures"][0]["references_bad"] == [
        "Doc_0/Pages/Page_0/Content.xml"]
    assert demo["intact"] is True


def test_human_output_is_chinese_first_with_a_mark_per_check(issued, files) -> None:
    status, env = _document([str(files["tampered"]), "--seal-roots", str(files["roots"])], issued)
    text = env.stdout.getvalue()
    assert status is ExitStatus.NOT_OK
    assert "✘ 文件不完整或签章无效 not intact" in text
    assert "✔ 签名 signature valid" in text and "✘ 文件摘要 6/7 references match" in text
    assert "✔ 可信签章人 trusted signer" in text


def test_without_a_root_the_signer_is_named_not_trusted(issued, files) -> None:
    status, env = _document([str(files["demo"])], issued)
    text = env.stdout.getvalue()
    assert status is ExitStatus.OK          # intact is about the file, whatever the trust in the signer
    assert "not a trusted root here" in text and "可信签章人" not in text


def test_a_photo_gives_its_code_and_says_the_seal_cannot_be_checked(issued, files) -> None:
    status, env = _document([str(files["png"]), "--json"], issued)
    out = json.loads(env.stdout.getvalue())
    assert (out["format"], out["intact"], out["signatures"]) == ("png", None, [])
    assert out["codes"][0]["text"] == issued.qr_text and out["codes"][0]["verdict"]["ok"] is True
    assert PICTURE_NOTE in out["notes"]
    assert status is ExitStatus.NOT_OK        # a seal that cannot be checked is not an intact file
    _, human = _document([str(files["png"])], issued)
    assert "图片无法核验电子签章" in human.stdout.getvalue()


def _flate_pdf(image: Image.Image) -> bytes:
    """A one-page PDF whose image is 8-bit grey FlateDecode, as PDF printers write scans."""
    grey = image.convert("L")
    pixels = zlib.compress(grey.tobytes())
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n" % (grey.width, grey.height, len(pixels)) + pixels
        + b"\nendstream",
        b"<< /Length 35 >>\nstream\nq 200 0 0 200 50 600 cm /Im1 Do Q\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize("kind", ["jpeg", "flate"])
def test_a_pdf_gives_the_codes_of_its_images(issued, files, tmp_path: Path, kind: str) -> None:
    pdf = tmp_path / "certificate.pdf"
    image = Image.open(files["png"]).convert("RGB").resize((600, 600))
    if kind == "jpeg":
        image.save(pdf, "PDF")                 # Pillow writes a DCTDecode (JPEG) image
    else:
        pdf.write_bytes(_flate_pdf(image))
    status, env = _document([str(pdf), "--json"], issued)
    out = json.loads(env.stdout.getvalue())
    assert (out["format"], out["intact"]) == ("pdf", None)
    assert [c["text"] for c in out["codes"]] == [issued.qr_text]
    assert PDF_NOTE in out["notes"] and status is ExitStatus.NOT_OK


def test_without_offline_data_the_seal_is_still_checked(issued, files, tmp_path: Path) -> None:
    env = _env(CRANE_SEAL_ROOTS=str(files["roots"]))
    status = scan_main(["document", str(files["demo"]), "--json", "--data-dir", str(tmp_path / "none")], env)
    out = json.loads(env.stdout.getvalue())
    assert status is ExitStatus.NOT_OK and out["intact"] is True and out["codes"] == []
    assert out["notes"] == [f"二维码未核验 code not resolved: {issued.qr_text}"]
    assert "codes cannot be resolved" in env.stderr.getvalue()


def test_a_file_that_is_no_document_is_an_error(issued, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    status, env = _document([str(junk)], issued)
    assert status is ExitStatus.ERROR and "不是 OFD、PDF 或图片文件" in env.stdout.getvalue()


def test_crane_keys_seal_commands_make_a_document_that_verifies(issued, tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    env = _env()
    assert keys_main(["seal", "root", "--name", "演示印章根 Demo Seal Root", "--out", str(keys_dir)], env) == 0
    root_key, root_cert = keys_dir / "seal-root.key.pem", keys_dir / "seal-root.cert.pem"
    assert (root_key.stat().st_mode & 0o777) == 0o600
    assert keys_main(["seal", "key", "--name", "沈阳市城乡建设局", "--root-key", str(root_key),
                      "--root-cert", str(root_cert), "--out", str(keys_dir)], env) == 0
    seal_key = next(p for p in keys_dir.glob("*.key.pem") if p != root_key)
    seal_cert = seal_key.with_name(seal_key.name.replace(".key.pem", ".cert.pem"))
    record = tmp_path / "record.json"
    record.write_text(json.dumps(issued.record.to_json(), ensure_ascii=False), "utf-8")
    demo = tmp_path / "demo.ofd"
    assert keys_main(["seal", "certificate", str(record), "--qr", issued.qr_text, "--key", str(seal_key),
                      "--cert", str(seal_cert), "--maker-key", str(root_key), "--maker-cert", str(root_cert),
                      "--out", str(demo)], env) == 0
    twice = tmp_path / "twice.ofd"
    assert keys_main(["seal", "sign", str(demo), "--key", str(seal_key), "--cert", str(seal_cert),
                      "--ses-version", "1", "--out", str(twice)], env) == 0
    assert "no legal force" in env.stdout.getvalue()
    status, out = _document([str(twice), "--json"], issued, CRANE_SEAL_ROOTS=str(root_cert))
    report = json.loads(out.stdout.getvalue())
    assert status is ExitStatus.OK, out.stdout.getvalue()
    assert [(s["format"], s["trusted"]) for s in report["signatures"]] == [("ses-v4", True), ("ses-v1", True)]


def test_crane_keys_seal_refuses_a_key_that_is_not_the_certificates(issued, pki, tmp_path: Path) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    key.write_bytes(pki.root.key.pem())
    cert.write_bytes(pki.seal.certificate_pem())
    demo = tmp_path / "demo.ofd"
    demo.write_bytes(issued.document)
    env = _env()
    status = keys_main(["seal", "sign", str(demo), "--key", str(key), "--cert", str(cert), "--out",
                        str(tmp_path / "o.ofd")], env)
    assert status is ExitStatus.ERROR and "does not match the certificate" in env.stderr.getvalue()


def test_a_hostile_pdf_is_read_in_linear_time(issued, tmp_path: Path) -> None:
    pdf = tmp_path / "hostile.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"<< /Type /XObject /Subtype /Image << << << " * 100_000)
    started = time.process_time()
    status, env = _document([str(pdf), "--json"], issued)
    assert time.process_time() - started < 1.0
    out = json.loads(env.stdout.getvalue())
    assert out["codes"] == [] and "no image in the PDF could be read" in " ".join(out["notes"])


def test_crane_keys_seal_certificate_with_a_bad_record_says_so(pki, tmp_path: Path) -> None:
    record, key, cert = tmp_path / "record.json", tmp_path / "k.pem", tmp_path / "c.pem"
    record.write_text("{not json", "utf-8")
    key.write_bytes(pki.seal.key.pem())
    cert.write_bytes(pki.seal.certificate_pem())
    env = _env()
    status = keys_main(["seal", "certificate", str(record), "--qr", "X", "--key", str(key), "--cert", str(cert),
                        "--out", str(tmp_path / "o.ofd")], env)
    assert status is ExitStatus.ERROR and "is not JSON" in env.stderr.getvalue()
    assert not (tmp_path / "o.ofd").exists()
