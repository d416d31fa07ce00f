"""The composite key that travels with every model request and comes back in its output line.

A key is base64 of JSON {"phone_token": ..., "interaction_id": ...} (more fields allowed); older
producers wrote the text "phone_token|interaction_id". Both standard and URL-safe alphabets are read,
with or without padding. Encoding always writes URL-safe JSON, which survives every JSONL reader.
"""

from __future__ import annotations

import base64
import binascii
from typing import NamedTuple

import orjson

# A key longer than this is not ours: refuse it before decoding (bounded work on hostile input).
MAX_KEY_CHARS = 4096
# Where a key may sit in an output line, in order of preference.
KEY_FIELDS = ("key", "id", "custom_id")
# The URL-safe alphabet mapped onto the standard one: a key may use either (or, leniently, both).
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


class BadKey(ValueError):
    """The key does not decode to a phone token and an interaction id."""


class CompositeKey(NamedTuple):
    """What a composite key holds. A named tuple: one is made per output line, and it is the
    cheapest immutable record to build."""

    phone_token: str
    interaction_id: str


def encode_key(phone_token: str, interaction_id: str) -> str:
    """base64url (padded) of compact JSON; deterministic for the same pair."""
    payload = orjson.dumps({"phone_token": phone_token, "interaction_id": interaction_id})
    return base64.urlsafe_b64encode(payload).decode("ascii")


def decode_key(key: object) -> CompositeKey:
    """Decode a composite key; raises BadKey with the reason."""
    if not isinstance(key, str) or not key.strip():
        raise BadKey("key is missing or not a string")
    key = key.strip()
    if len(key) > MAX_KEY_CHARS:
        raise BadKey("key is too long")
    raw = _b64decode(key)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadKey("key is not UTF-8 once decoded") from exc
    return _from_json(text) if text.startswith("{") else _from_pipe(text)


def _b64decode(key: str) -> bytes:
    try:
        data = key.encode("ascii").translate(_TO_STANDARD)
    except UnicodeEncodeError as exc:
        raise BadKey("key is not base64") from exc
    try:
        # strict_mode: a lax decode silently drops stray characters and "decodes" garbage. binascii
        # directly: base64.b64decode's validation regex and alphabet translation cost more than the
        # decode itself, once per output line.
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
    except binascii.Error as exc:
        raise BadKey("key is not base64") from exc


def _from_json(text: str) -> CompositeKey:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadKey("key JSON does not parse") from exc
    if not isinstance(obj, dict):
        raise BadKey("key JSON is not an object")
    return _checked(obj.get("phone_token"), obj.get("interaction_id"))


def _from_pipe(text: str) -> CompositeKey:
    parts = text.split("|")
    if len(parts) != 2:
        raise BadKey("key text is not phone_token|interaction_id")
    return _checked(parts[0], parts[1])


def _checked(phone_token: object, interaction_id: object) -> CompositeKey:
    if type(phone_token) is str and type(interaction_id) is str:  # the usual case, checked cheaply
        token, interaction = phone_token.strip(), interaction_id.strip()
        if token and interaction:
            return CompositeKey(token, interaction)
    if not isinstance(phone_token, str) or not phone_token.strip():
        raise BadKey("key has no phone_token")
    if not isinstance(interaction_id, (str, int)) or not str(interaction_id).strip():
        raise BadKey("key has no interaction_id")
    return CompositeKey(phone_token.strip(), str(interaction_id).strip())


def find_key(line: dict) -> object:
    """The key of an output line: a top-level field, else inside the echoed request
    (top level, then labels, then metadata), else None."""
    for name in KEY_FIELDS:
        if line.get(name):
            return line[name]
    request = line.get("request")
    if isinstance(request, dict):
        for name in KEY_FIELDS:
            if request.get(name):
                return request[name]
        for holder in ("labels", "metadata"):
            inner = request.get(holder)
            if isinstance(inner, dict):
                for name in KEY_FIELDS:
                    if inner.get(name):
                        return inner[name]
    return None
