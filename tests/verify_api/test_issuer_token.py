"""The issuer token's text format: one parser for the token check and the bad-token rate-limit key."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from verify_api import issuer_token
from verify_api.issuer_token import IssuerToken

token_ids = st.text(alphabet="0123456789abcdef", min_size=12, max_size=12)
secrets_ = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=100)


@given(token_ids, secrets_)
def test_a_token_reads_back_from_its_text(token_id: str, secret: str) -> None:
    token = IssuerToken(token_id, secret)
    assert issuer_token.parse(token.text()) == token  # a secret may hold "_" (URL-safe base64)


@given(st.text(max_size=200))
def test_any_text_is_a_token_or_none_and_never_an_error(text: str) -> None:
    token = issuer_token.parse(text)
    assert token is None or token.text() == text


def test_what_is_not_a_token() -> None:
    good = IssuerToken.new()
    assert issuer_token.parse(good.text()) == good and len(good.secret) == 43
    for text in ("", "crv", "crv_x_y", f"crv_{'a' * 12}_", f"xyz_{'a' * 12}_s", f"crv_{'A' * 12}_s",
                 f"crv_{'a' * 11}_s", f"crv_{'a' * 12}_{'s' * 101}", f"Bearer {good.text()}"):
        assert issuer_token.parse(text) is None, text
    assert good.secret not in repr(good)


def test_the_bearer_scheme_and_the_actor() -> None:
    assert issuer_token.presented("Bearer  crv_x ") == "crv_x" and issuer_token.presented("bearer t") == "t"
    assert issuer_token.presented("Basic abc") is None and issuer_token.presented("") is None
    actor = issuer_token.actor("210100", "0a1b2c3d4e5f")
    assert actor == "issuer:210100:0a1b2c3d4e5f" and issuer_token.issuer_of(actor) == "210100"
    assert issuer_token.issuer_of("operator:cli") is None and issuer_token.issuer_of("operator") is None
