"""The model text -> JSON object path: strict first, unwrapping, bounded repair, objects only."""

import pytest

from pass1_processor import repair
from pass1_processor.repair import isolate_json, parse_model_text

OBJ = '{"summary": "ok", "topics": ["a"]}'


@pytest.mark.parametrize("text", [
    OBJ,
    f"```json\n{OBJ}\n```",
    f"```\n{OBJ}\n```",
    f"Here is the analysis of the call:\n\n{OBJ}\n\nLet me know if you need anything else.",
    f"Sure!\n```json\n{OBJ}\n```\nHope this helps.",
])
def test_well_formed_json_is_not_counted_as_repaired(text):
    parsed = parse_model_text(text)
    assert parsed.payload == {"summary": "ok", "topics": ["a"]}
    assert parsed.repaired is False


@pytest.mark.parametrize("text, expected", [
    ('{"summary": "ok", "score": 3,}', {"summary": "ok", "score": 3}),
    ("{'summary': 'ok', 'score': 3}", {"summary": "ok", "score": 3}),
    ('```json\n{"summary": "ok", "score": 3,}\n```', {"summary": "ok", "score": 3}),
    ('{"summary": "cut', {"summary": "cut"}),                      # MAX_TOKENS truncation
    ('```json\n{"summary": "ok", "score": 3', {"summary": "ok", "score": 3}),  # fence cut off too
])
def test_malformed_json_is_repaired_and_flagged(text, expected):
    parsed = parse_model_text(text)
    assert parsed.payload == expected
    assert parsed.repaired is True


@pytest.mark.parametrize("text, reason", [
    ("", "empty_response"),
    ("   \n ", "empty_response"),
    ("I could not analyse this call.", "invalid_json"),
    ("[1, 2]", "not_an_object"),
    ('"just a string"', "not_an_object"),
    ("42", "not_an_object"),
    ("```json\n[{\"a\": 1}]\n```", "not_an_object"),
    ("{,,,}", "invalid_json"),
])
def test_unusable_text_gets_a_reason(text, reason):
    parsed = parse_model_text(text)
    assert parsed.payload is None
    assert parsed.reason == reason
    assert parsed.detail


def test_repair_input_is_bounded(monkeypatch):
    """Oversized malformed text is refused without calling json_repair (its time is non-linear)."""
    import json_repair

    calls = []
    monkeypatch.setattr(json_repair, "loads", lambda *a, **k: calls.append(1) or {"x": 1})
    big = "{'summary': '" + "x" * repair.MAX_REPAIR_CHARS + "'}"
    parsed = parse_model_text(big)
    assert parsed.reason == "invalid_json" and "too large" in parsed.detail
    assert calls == []
    assert parse_model_text("{a: 'b'}").payload == {"x": 1} and calls == [1]  # unquoted key: json_repair's


def test_isolate_prefers_the_fence_and_cuts_prose():
    assert isolate_json('Note {x}\n```json\n{"a": 1}\n```') == '{"a": 1}'
    assert isolate_json('prefix {"a": {"b": 1}} suffix') == '{"a": {"b": 1}}'
    assert isolate_json('no braces') is None


@pytest.mark.parametrize("text, expected", [
    ('{"topics": ["a", "b",], "score": 3}', {"topics": ["a", "b"], "score": 3}),
    ('{"flags": {"x": true,}, "score": 3,\n}', {"flags": {"x": True}, "score": 3}),
])
def test_trailing_commas_anywhere_are_fixed_without_json_repair(text, expected, monkeypatch):
    monkeypatch.setattr(repair, "_repair", lambda candidate: pytest.fail("json_repair was called"))
    parsed = parse_model_text(text)
    assert (parsed.payload, parsed.repaired) == (expected, True)


@pytest.mark.parametrize("text, expected", [
    ("{'summary': 'the customer's bill', 'topics': ['a', 'b'], 'score': 3}",
     {"summary": "the customer's bill", "topics": ["a", "b"], "score": 3}),
    ("{'summary': 'late, again', 'ok': true}", {"summary": "late, again", "ok": True}),
    ('{"summary": "the call was cu', {"summary": "the call was cu"}),
    ('{"summary": "ok", "topics": ["billing", "ro', {"summary": "ok", "topics": ["billing", "ro"]}),
    ('{"summary": "ok", "topics": ["billing"], "follow_up_', {"summary": "ok", "topics": ["billing"]}),
    ('{"summary": "ok", "score": 4, "flag": tr', {"summary": "ok", "score": 4}),
    ('{"summary": "ok", "nested": {"a": 1, "b":', {"summary": "ok", "nested": {"a": 1}}),
    ('{"summary": "a \\"quote\\" and \\', {"summary": 'a "quote" and '}),
])
def test_cut_short_and_single_quoted_answers_are_fixed_without_json_repair(text, expected, monkeypatch):
    monkeypatch.setattr(repair, "_repair", lambda candidate: pytest.fail("json_repair was called"))
    parsed = parse_model_text(text)
    assert (parsed.payload, parsed.repaired) == (expected, True)


@pytest.mark.parametrize("text", [
    '{"summary": "ok", "topics": ["a", "b"], "score": 3',
    "{'summary': 'it's fine', 'score': 2}",
    '{"summary": "ok", "flags": {"x": [1, 2, {"y": "z',
])
def test_quick_fixes_agree_with_json_repair(text, monkeypatch):
    import json_repair

    expected = json_repair.loads(text, skip_json_loads=True)
    assert parse_model_text(text).payload == expected


def test_escaped_single_quotes_inside_a_single_quoted_answer(monkeypatch):
    monkeypatch.setattr(repair, "_repair", lambda candidate: pytest.fail("json_repair was called"))
    text = "{'summary': 'saying \\'I was billed twice\\' on the call', 'score': 2}"
    assert parse_model_text(text).payload == {"summary": "saying 'I was billed twice' on the call", "score": 2}
