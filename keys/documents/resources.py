"""The image resources of an OFD document and the pages that draw them, so a caller can look for QR codes.

Document.xml names the resource files (PublicRes, DocumentRes, and pages' own PageRes); their MultiMedia
entries of Type Image name the image files; pages and their templates draw them by ResourceID.
"""

from __future__ import annotations

import posixpath
from xml.etree.ElementTree import Element

from .package import Package, child, children, local, parse_xml, resolve, text_of
from .report import ImageResource

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
          (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"),
          (b"\x97JB2\r\n\x1a\n", "image/jbig2"))


def media_type(data: bytes) -> str:
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), "application/octet-stream")


def page_images(package: Package, document_path: str) -> list[ImageResource]:
    document_xml = package.get(document_path)
    if document_xml is None:
        return []
    document = parse_xml(document_xml, document_path)
    doc_dir = posixpath.dirname(document_path)
    common = child(document, "CommonData")
    res_files = []
    if common is not None:
        res_files = [resolve(doc_dir, text_of(e)) for e in common
                     if local(e.tag) in ("PublicRes", "DocumentRes") and text_of(e)]
        templates = {t.get("ID", ""): resolve(doc_dir, t.get("BaseLoc", ""))
                     for t in children(common, "TemplatePage") if t.get("BaseLoc")}
    else:
        templates = {}
    drawn: dict[str, set[int]] = {}
    pages = child(document, "Pages")
    for number, page in enumerate(children(pages, "Page") if pages is not None else [], start=1):
        if not page.get("BaseLoc"):
            continue
        path = resolve(doc_dir, page.get("BaseLoc", ""))
        content = package.get(path)
        if content is None:
            continue
        tree = parse_xml(content, path)
        res_files += [resolve(posixpath.dirname(path), text_of(e)) for e in children(tree, "PageRes")]
        sources = [tree]
        for used in children(tree, "Template"):
            template = package.get(templates.get(used.get("TemplateID", ""), ""))
            if template is not None:
                sources.append(parse_xml(template, templates[used.get("TemplateID", "")]))
        for source in sources:
            for resource_id in _drawn_ids(source):
                drawn.setdefault(resource_id, set()).add(number)
    found: dict[str, ImageResource] = {}
    for res_path in dict.fromkeys(res_files):
        for resource_id, image_path in _images_in(package, res_path):
            data = package.get(image_path)
            if data is not None and image_path not in found:
                found[image_path] = ImageResource(image_path, media_type(data), data,
                                                  tuple(sorted(drawn.get(resource_id, ()))))
    return list(found.values())


def _drawn_ids(tree: Element) -> list[str]:
    return [e.get("ResourceID", "") for e in tree.iter() if local(e.tag) == "ImageObject"]


def _images_in(package: Package, res_path: str) -> list[tuple[str, str]]:
    data = package.get(res_path)
    if data is None:
        return []
    res = parse_xml(data, res_path)
    base = resolve(posixpath.dirname(res_path), res.get("BaseLoc", "")) if res.get("BaseLoc") else posixpath.dirname(res_path)
    out = []
    for group in children(res, "MultiMedias"):
        for media in children(group, "MultiMedia"):
            file = text_of(child(media, "MediaFile"))
            if media.get("Type", "Image").lower() == "image" and file:
                out.append((media.get("ID", ""), resolve(base, file)))
    return out
