import base64

import pytest

from shared.keys import BadKey, CompositeKey, decode_key, encode_key, find_key


def test_round_trip_is_deterministic():
    key = encode_key("tok_abc", "INT-1")
    assert key == encode_key("tok_abc", "INT-1")
    assert decode_key(key) == CompositeKey("tok_abc", "INT-1")


@pytest.mark.parametrize("raw", [
    b'{"phone_token": "tok_+/?", "interaction_id": "INT-9", "extra": 1}',
    b"tok_+/?|INT-9",
])
@pytest.mark.parametrize("codec", ["standard", "urlsafe", "standard_nopad", "urlsafe_nopad"])
def test_decodes_every_alphabet_and_padding(raw, codec):
    encoded = (base64.urlsafe_b64encode(raw) if codec.startswith("urlsafe") else base64.b64encode(raw)).decode()
    if codec.endswith("nopad"):
        encoded = encoded.rstrip("=")
    assert decode_key(encoded) == CompositeKey("tok_+/?", "INT-9")


def test_numeric_interaction_id_becomes_text():
    key = base64.b64encode(b'{"phone_token": "t1", "interaction_id": 42}').decode()
    assert decode_key(key) == CompositeKey("t1", "42")


@pytest.mark.parametrize("bad, reason", [
    (None, "missing"),
    ("", "missing"),
    ("!!!not base64!!!", "not base64"),
    (base64.b64encode(b"\xff\xfe").decode(), "not UTF-8"),
    (base64.b64encode(b"no-pipe-here").decode(), "phone_token|interaction_id"),
    (base64.b64encode(b'{"phone_token": "t"}').decode(), "no interaction_id"),
    (base64.b64encode(b'["a", "b"]').decode(), "phone_token|interaction_id"),
    (base64.b64encode(b'{"phone_token": ').decode(), "does not parse"),
    ("A" * 5000, "too long"),
])
def test_bad_keys_say_why(bad, reason):
    with pytest.raises(BadKey, match=reason):
        decode_key(bad)


def test_find_key_prefers_top_level_then_request():
    assert find_key({"key": "k1", "id": "k2"}) == "k1"
    assert find_key({"custom_id": "k3"}) == "k3"
    assert find_key({"request": {"labels": {"key": "k4"}}}) == "k4"
    assert find_key({"request": {"contents": []}}) is None
