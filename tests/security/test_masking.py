"""Phone and ID numbers are masked however people write them: split by spaces or dashes, in full-width
digits, behind +86. Generated numbers never reach a public answer: the /V/ page, verify JSON, lookup JSON
and the signed status feed.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.live import bearer, quoted, signed_certificate
from verify_api.privacy import scrub

_SEPARATORS = [" ", "-", " - ", "－", "—", "\u3000", "  ", "\u00a0"]
_FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
_SEPARATOR_CHARS = re.compile(r"[\s\-—]")


@st.composite
def _written(draw, digits: str, groupings: list[tuple[int, ...]], prefixes: list[str]) -> str:
    """`digits` as a person might write them: grouped, separated, full-width, with a prefix."""
    groups, start = [], 0
    for size in draw(st.sampled_from(groupings)):
        groups.append(digits[start:start + size])
        start += size
    separator = draw(st.sampled_from(_SEPARATORS))
    text = draw(st.sampled_from(prefixes)) + separator.join(groups)
    if draw(st.booleans()):
        text = text.translate(_FULL_WIDTH)
    return text


@st.composite
def phones(draw) -> tuple[str, str]:
    digits = "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))
    written = draw(_written(digits, [(11,), (3, 4, 4), (3, 8), (7, 4)], ["", "+86", "+86 ", "86", "0086 ", "＋86-"]))
    return digits, written


@st.composite
def id_numbers(draw) -> tuple[str, str]:
    digits = draw(st.text("0123456789", min_size=17, max_size=17)) + draw(st.sampled_from("0123456789Xx"))
    written = draw(_written(digits, [(18,), (6, 8, 4), (6, 4, 4, 4), (6, 12)], [""]))
    return digits.upper(), written


def _shown(text: str) -> str:
    """What a reader sees with widths folded and separators gone."""
    return _SEPARATOR_CHARS.sub("", unicodedata.normalize("NFKC", text).upper())


def _leaked(outputs: list[str], numbers: list[str]) -> list[str]:
    return [n for n in numbers for out in outputs if n in _shown(out)]


@settings(max_examples=200, deadline=None)
@given(phone=phones(), id_number=id_numbers(), lead=st.sampled_from(["", "联系人", "tel:", "电话：", "(", "2024-05-01 "]))
def test_scrub_masks_every_written_form(phone, id_number, lead):
    text = f"{lead}{phone[1]}，身份证{id_number[1]}。"
    masked = scrub(text)
    assert not _leaked([masked], [phone[0], id_number[0]]), (text, masked)
    assert "****" in masked and "********" in masked


_index = itertools.count(7300)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phone=phones(), id_number=id_numbers())
def test_written_numbers_never_reach_a_public_answer(client, token, demo_keys, phone, id_number):
    raw, qr = signed_certificate(demo_keys, next(_index))
    raw["project"]["address"] += f"（联系人 {phone[1]}）"
    assert client.post("/api/v1/issuer/certificates", json={"record": raw, "qr_text": qr},
                       headers=bearer(token)).status_code == 201
    reg = raw["registration_no"]
    reason = f"群众举报：手机 {phone[1]}，身份证 {id_number[1]}"
    assert client.post(f"/api/v1/issuer/certificates/{quoted(reg)}/status",
                       json={"state": "suspended", "reason": reason}, headers=bearer(token)).status_code == 200
    payload = qr.rsplit("/", 1)[1]
    outputs = [client.get(f"/V/{payload}").get_data(as_text=True),
               client.post("/api/v1/verify", json={"qr": qr}).get_data(as_text=True),
               client.get(f"/api/v1/verify?qr={quoted(qr)}").get_data(as_text=True),
               client.get(f"/api/v1/certificates/{quoted(reg)}?record_no={quoted(raw['equipment']['record_no'])}")
               .get_data(as_text=True),
               client.get("/api/v1/status-feed", query_string={"since": "0", "limit": 5000}).get_data(as_text=True)]
    assert all("****" in out for out in outputs[:4])
    assert not _leaked(outputs, [phone[0], id_number[0]])
