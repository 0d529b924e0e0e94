"""A certificate as an OFD document (A4), and the sealed demo document built from it.

The page carries the certificate's fields, its QR code (an image resource at least 25 mm wide, so a
phone reads it from a print), a visible 演示 DEMO watermark, and the seal as the signature's StampAnnot
(OFD readers draw the seal picture there). Demo documents carry no legal force: real seals come from
the issuing authority's certified seal system.
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

from ..record import Record
from .seal_keys import SealIdentity
from .sealing import OFD_NS, SealSpec, seal_ofd, write_package

QR_MM = 32.0                      # printed QR side; the issue asks for at least 25 mm
QR_BOX = (22.0, 222.0, QR_MM, QR_MM)
SEAL_BOX = (136.0, 216.0, 42.0, 42.0)
_FONT_CANDIDATES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
                    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc")


def certificate_fields(record: Record) -> list[tuple[str, str]]:
    """What the printed certificate shows; personal data (the supervising engineer, phones) is left off."""
    eq = record.equipment
    rows = [
        ("登记编号", f"{record.registration_no}（第{record.version}版）"),
        ("设备类别", eq.category.zh),
        ("规格型号", eq.model),
        ("备案编号", eq.record_no),
        ("出厂编号", eq.factory_serial),
        ("制造单位", eq.manufacturer),
        ("使用单位", record.user.name),
        ("产权单位", record.owner.name if record.owner else ""),
        ("安装单位", record.installer.name if record.installer else ""),
        ("工程名称", record.project.name),
        ("工程地址", record.project.address),
        ("安装位置", record.project.position),
        ("发证机关", record.issuer.name),
        ("发证日期", record.issued_on.isoformat()),
        ("电子证照标识", record.licence_id or ""),
    ]
    return [(label, value) for label, value in rows if value]


def _em_width(text: str) -> float:
    """Width in ems, roughly: CJK and full-width characters one em, others about half."""
    return sum(1.0 if ord(c) > 0x2E7F else 0.55 for c in text)


class _Page:
    """Page content objects; IDs are unique in the document, as GB/T 33190 requires."""

    def __init__(self, first_id: int):
        self.next_id = first_id
        self.objects: list[str] = []

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def text(self, x: float, y: float, text: str, size: float, colour: str = "0 0 0", alpha: int = 255,
             width: float = 180.0) -> None:
        """One line; the size shrinks until the line fits its width (readers clip to the Boundary)."""
        size = max(2.5, min(size, width / max(_em_width(text), 1)))
        self._text(f"{x:g} {y:g} {width:g} {size * 1.6:g}", text, size, colour, alpha, "")

    def watermark(self, text: str) -> None:
        """Across the whole page, rising at 45 degrees; the Boundary is the page so nothing is clipped."""
        self._text("0 0 210 297", text, 30, "200 30 30", 70, ' CTM="0.7071 -0.7071 0.7071 0.7071 30 200"')

    def _text(self, boundary: str, text: str, size: float, colour: str, alpha: int, extra: str) -> None:
        self.objects.append(
            f'<ofd:TextObject ID="{self._id()}" Boundary="{boundary}" Font="2" '
            f'Size="{size:g}"{extra}><ofd:FillColor Value="{colour}" Alpha="{alpha}"/>'
            f'<ofd:TextCode X="0" Y="{size * 1.2:g}">{escape(text)}</ofd:TextCode></ofd:TextObject>')

    def image(self, resource_id: int, box: tuple[float, float, float, float]) -> None:
        x, y, w, h = box
        self.objects.append(f'<ofd:ImageObject ID="{self._id()}" ResourceID="{resource_id}" '
                            f'Boundary="{x:g} {y:g} {w:g} {h:g}" CTM="{w:g} 0 0 {h:g} 0 0"/>')

    def line(self, x: float, y: float, width: float) -> None:
        self.objects.append(f'<ofd:PathObject ID="{self._id()}" Boundary="{x:g} {y:g} {width:g} 1" LineWidth="0.3">'
                            f'<ofd:AbbreviatedData>M 0 0.5 L {width:g} 0.5</ofd:AbbreviatedData></ofd:PathObject>')


def qr_png(qr_text: str) -> bytes:
    """The QR as `crane-keys issue` draws it (error correction M), 5 pixels a module."""
    out = io.BytesIO()
    segno.make(qr_text, error="m", micro=False).save(out, kind="png", scale=5, border=4)
    return out.getvalue()


def certificate_ofd(record: Record, qr_text: str, qr_image: bytes | None = None) -> bytes:
    """The unsealed OFD of one certificate; `qr_image` (PNG) saves encoding the QR again (most of the cost)."""
    page = _Page(first_id=10)
    page.text(30, 18, "建筑起重机械使用登记证书", 9, width=150)
    page.text(62, 31, "Construction Crane Use Registration Certificate", 4, width=120)
    page.line(20, 40, 170)
    y = 48.0
    for label, value in certificate_fields(record):
        page.text(22, y, f"{label}：", 4.2, width=40)
        page.text(58, y, value, 4.2, width=132)
        y += 9.5
    page.image(3, QR_BOX)
    page.text(20, QR_BOX[1] + QR_MM + 2, "扫码核验 Scan to verify", 3.2, width=60)
    page.text(SEAL_BOX[0] - 6, 262, record.issuer.name, 4.2, width=70)
    page.text(SEAL_BOX[0] - 6, 270, record.issued_on.isoformat(), 4.2, width=70)
    # Diagonal watermark, drawn last so it shows over everything but the seal.
    page.watermark("演示 DEMO")
    page.text(20, 284, "演示文件，无法律效力 · DEMO document, no legal force", 3.6, colour="200 30 30", width=170)
    last_id = page.next_id
    files = {
        "OFD.xml": _xml(
            f'<ofd:OFD xmlns:ofd="{OFD_NS}" Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo>'
            f'<ofd:DocID>{escape(record.registration_no)}-{record.version}</ofd:DocID>'
            f'<ofd:Title>建筑起重机械使用登记证书（演示）</ofd:Title>'
            f'<ofd:CreationDate>{record.issued_on.isoformat()}</ofd:CreationDate>'
            '<ofd:Creator>crane-verify</ofd:Creator></ofd:DocInfo>'
            '<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>'),
        "Doc_0/Document.xml": _xml(
            f'<ofd:Document xmlns:ofd="{OFD_NS}"><ofd:CommonData><ofd:MaxUnitID>{last_id}</ofd:MaxUnitID>'
            '<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>'
            '<ofd:PublicRes>PublicRes.xml</ofd:PublicRes><ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>'
            '</ofd:CommonData><ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages>'
            '</ofd:Document>'),
        "Doc_0/PublicRes.xml": _xml(
            f'<ofd:Res xmlns:ofd="{OFD_NS}" BaseLoc="Res"><ofd:Fonts>'
            '<ofd:Font ID="2" FontName="SimSun" FamilyName="SimSun"/></ofd:Fonts></ofd:Res>'),
        "Doc_0/DocumentRes.xml": _xml(
            f'<ofd:Res xmlns:ofd="{OFD_NS}" BaseLoc="Res"><ofd:MultiMedias>'
            '<ofd:MultiMedia ID="3" Type="Image" Format="PNG"><ofd:MediaFile>qr.png</ofd:MediaFile>'
            '</ofd:MultiMedia></ofd:MultiMedias></ofd:Res>'),
        "Doc_0/Pages/Page_0/Content.xml": _xml(
            f'<ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content><ofd:Layer ID="5">{"".join(page.objects)}'
            '</ofd:Layer></ofd:Content></ofd:Page>'),
        "Doc_0/Res/qr.png": qr_image if qr_image is not None else qr_png(qr_text),
    }
    return write_package(files)


def _xml(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")


@lru_cache(maxsize=4)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=64)
def seal_picture(name: str, size: int = 300) -> bytes:
    """A round red seal: ring, star, the issuer's name and 演示专用章 (demo seal). PNG with transparency;
    one per issuer name, since the demo makes many documents for few issuers."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    red = (210, 20, 20, 255)
    draw.ellipse((8, 8, size - 8, size - 8), outline=red, width=size // 28)
    c, r = size / 2, size * 0.13
    star = [(c + (r if i % 2 == 0 else r * 0.4) * math.sin(i * math.pi / 5),
             c - (r if i % 2 == 0 else r * 0.4) * math.cos(i * math.pi / 5)) for i in range(10)]
    draw.polygon(star, fill=red)
    font_path = next((p for p in _FONT_CANDIDATES if Path(p).exists()), None)
    if font_path:
        for text, y, frac in ((name, size * 0.22, 0.07), ("演示专用章", size * 0.66, 0.09)):
            font = _font(font_path, max(10, int(size * frac * min(1.0, 9 / max(len(text), 1)))))
            width = draw.textlength(text, font=font)
            draw.text(((size - width) / 2, y), text, font=font, fill=red)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_demo_document(record: Record, qr_text: str, seal: SealIdentity, now: datetime,
                       maker: SealIdentity | None = None, qr_image: bytes | None = None) -> bytes:
    """The certificate's OFD, sealed (SES v4) with `seal` (the issuer's demo seal key and certificate);
    `maker` makes the seal, by default the seal key itself. About 120 ms, most of it encoding the QR:
    pass `qr_image` (the PNG the demo already drew) to save that."""
    spec = SealSpec(name=f"{record.issuer.name}（演示）", picture=seal_picture(record.issuer.name),
                    boundary=SEAL_BOX)
    return seal_ofd(certificate_ofd(record, qr_text, qr_image), seal, spec, now, maker=maker)
