"""One output line -> Record or DeadLetter, strict path and regex fallback."""

import base64

import orjson
import pytest

from pass1_processor.extract import RAW_LIMIT, DeadLetter, Record, _from_object, extract_line
from shared.keys import encode_key
from tests.processor import lines as L


def _line(obj) -> bytes:
    return orjson.dumps(obj)


def test_success_line_becomes_a_record_with_usage_and_model_facts():
    out = extract_line(_line(L.success("tok1", "INT-1", {"summary": "s"}, usage=(7, 3, 10))), 5)
    assert isinstance(out, Record)
    assert (out.phone_token, out.interaction_id, out.line_number) == ("tok1", "INT-1", 5)
    assert out.composite_key == encode_key("tok1", "INT-1")
    assert out.payload == {"summary": "s"} and out.repaired is False
    assert (out.model_version, out.finish_reason) == ("gemini-2.5-flash", "STOP")
    assert (out.prompt_tokens, out.candidates_tokens, out.total_tokens) == (7, 3, 10)


def test_text_split_over_parts_is_joined_and_thoughts_are_left_out():
    parts = [{"text": "thinking...", "thought": True}, {"text": '{"summ'}, {"text": 'ary": "s"}'}]
    out = extract_line(_line(L.success("t", "i", parts=parts)), 1)
    assert out.payload == {"summary": "s"}


@pytest.mark.parametrize("key", [
    encode_key("tok", "INT"),
    encode_key("tok", "INT").rstrip("="),
    base64.b64encode(b'{"phone_token": "tok", "interaction_id": "INT"}').decode(),
    base64.b64encode(b"tok|INT").decode(),
])
def test_every_key_encoding_decodes(key):
    out = extract_line(_line(L.success("x", "y", {"a": 1}, key=key)), 1)
    assert (out.phone_token, out.interaction_id, out.composite_key) == ("tok", "INT", key)


def test_key_is_found_in_id_custom_id_or_the_echoed_request():
    for holder in ("id", "custom_id"):
        line = L.success("t", "i", {"a": 1})
        line[holder] = line.pop("key")
        assert isinstance(extract_line(_line(line), 1), Record)
    line = L.success("t", "i", {"a": 1})
    line["request"]["labels"] = {"key": line.pop("key")}
    assert extract_line(_line(line), 1).phone_token == "t"


@pytest.mark.parametrize("mutate, reason", [
    (lambda l: l.pop("key"), "missing_key"),
    (lambda l: l.update(key="!!!not base64!!!"), "bad_key"),
    (lambda l: l.update(key=base64.b64encode(b"no separator").decode()), "bad_key"),
    (lambda l: l["response"]["candidates"][0]["content"].pop("parts"), "empty_response"),
    (lambda l: l["response"].update(candidates=[]), "empty_response"),
    (lambda l: l["response"]["candidates"][0]["content"].update(parts=[{"text": "[1, 2]"}]), "not_an_object"),
    (lambda l: l["response"]["candidates"][0]["content"].update(parts=[{"text": "sorry, no"}]), "invalid_json"),
])
def test_unusable_lines_are_dead_letters_with_a_reason(mutate, reason):
    line = L.success("tok", "INT", {"a": 1})
    mutate(line)
    out = extract_line(_line(line), 9)
    assert isinstance(out, DeadLetter)
    assert (out.reason, out.line_number) == (reason, 9)
    assert out.raw.startswith("{")
    assert out.retry_request is None


def test_model_error_sets_its_key_aside_for_a_retry():
    """Only the key: the retry batch copies the request from the input (the echo is rewritten)."""
    line = L.failed("tok", "INT", code=429)
    out = extract_line(_line(line), 3)
    assert out.reason == "model_error" and "429" in out.detail
    assert orjson.loads(out.retry_request) == {"key": line["key"]}
    assert out.composite_key == line["key"]


def test_token_usage_of_a_dead_letter_is_kept():
    line = L.success("tok", "INT", text="nothing useful", usage=(11, 2, 13))
    out = extract_line(_line(line), 1)
    assert (out.reason, out.prompt_tokens, out.total_tokens) == ("invalid_json", 11, 13)


def test_regex_fallback_recovers_key_and_text_from_a_broken_line():
    line = _line(L.success("tok", "INT", {"summary": "quoted \"x\""}))
    broken = line.replace(b'"usageMetadata"', b'"usageMetadata"::')  # no longer JSON, in the answer's part
    out = extract_line(broken, 4)
    assert isinstance(out, Record)
    assert out.payload == {"summary": 'quoted "x"'}
    assert out.repaired is True  # the line needed recovery
    assert (out.phone_token, out.total_tokens, out.finish_reason) == ("tok", 120, "STOP")


def test_a_line_broken_only_in_its_echoed_request_needs_no_recovery():
    line = _line(L.success("tok", "INT", {"summary": "s"}))
    broken = line.replace(b'"processed_time"', b'"processed_time"::')  # the answer and key are intact
    out = extract_line(broken, 4)
    assert isinstance(out, Record) and out.payload == {"summary": "s"} and out.repaired is False
    assert (out.phone_token, out.total_tokens, out.finish_reason, out.model_version) == ("tok", 120, "STOP", L.MODEL)


def _fields(out) -> tuple:
    return tuple(getattr(out, f) for f in out.__slots__ if f != "raw")


@pytest.mark.parametrize("layout", ["key first", "key last", "id after response, key first",
                                    "response member inside the request", "response before request"])
def test_the_answer_is_read_the_same_whatever_the_layout_of_the_line(layout):
    """The tail fast path (only the members from "response" on) and the whole-line parse agree."""
    obj = L.success("tok", "INT", {"summary": "s", "topics": ["a"]}, i=3)
    key = obj.pop("key")
    request = obj.pop("request")
    if layout == "key first":
        obj = {"key": key, "request": request, **obj}
    elif layout == "key last":
        obj = {"request": request, **obj, "key": key}
    elif layout == "id after response, key first":  # find_key prefers "key": the tail alone would miss it
        obj = {"key": key, "request": request, **obj, "id": "other"}
    elif layout == "response member inside the request":
        request["contents"].append({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"x": 1}}}]})
        obj = {"request": request, **obj, "key": key}
    else:
        obj = {**obj, "request": {**request, "response": {"nested": True}}, "key": key}
    raw = _line(obj)
    fast, whole = extract_line(raw, 9), _from_object(orjson.loads(raw), raw, 9, None)
    assert isinstance(fast, Record) and _fields(fast) == _fields(whole)
    assert (fast.composite_key, fast.payload) == (key, {"summary": "s", "topics": ["a"]})


def test_regex_fallback_ignores_the_text_of_the_echoed_request():
    line = L.success("tok", "INT", parts=[])  # no model text at all; the request still has text
    broken = _line(line) + b"garbage"
    out = extract_line(broken, 1)
    assert isinstance(out, DeadLetter) and out.reason == "unparseable_line"
    assert out.composite_key == line["key"]


@pytest.mark.parametrize("raw", [b"this is not json", b'{"key": "abc"', b"[1, 2, 3]", b'"a string"'])
def test_hopeless_lines_are_unparseable(raw):
    out = extract_line(raw, 2)
    assert isinstance(out, DeadLetter) and out.reason == "unparseable_line"


def test_failed_row_recovered_by_regex_is_a_model_error():
    broken = _line(L.failed("tok", "INT"))[:-1]  # last brace lost
    out = extract_line(broken, 1)
    assert out.reason == "model_error"


def test_raw_is_bounded():
    line = L.success("tok", "INT", text="x" * (RAW_LIMIT * 3))
    assert len(extract_line(_line(line), 1).raw) == RAW_LIMIT


def _unanswered(response: dict) -> bytes:
    """A successful line (status "") whose response is `response`, as the real service writes it."""
    line = L.success("tok", "INT", {"a": 1})
    line["response"] = {"createTime": "2025-01-01T00:00:00.000000Z", "modelVersion": "gemini-2.5-flash",
                        "responseId": "r1", **response}
    return _line(line)


SAFETY_RATINGS = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True},
                  {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]


@pytest.mark.parametrize("response, reason, detail", [
    ({"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "Blocked.", "safetyRatings": SAFETY_RATINGS},
      "usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40}},
     "prompt_blocked", "the prompt was blocked: blockReason SAFETY (Blocked.); blocked: HARM_CATEGORY_HARASSMENT"),
    ({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 40}},
     "prompt_blocked", "the prompt was blocked: blockReason PROHIBITED_CONTENT"),
    ({"candidates": [{"finishReason": "SAFETY", "safetyRatings": SAFETY_RATINGS}],
      "usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40}},
     "finish_safety", "stopped by a content filter: finishReason SAFETY; blocked: HARM_CATEGORY_HARASSMENT"),
    ({"candidates": [{"content": {"parts": [{"text": '{"summary": "half'}], "role": "model"},
                      "finishReason": "SAFETY"}], "usageMetadata": {"promptTokenCount": 40}},
     "finish_safety", "finishReason SAFETY"),
    ({"candidates": [{"finishReason": "SPII"}], "usageMetadata": {}}, "finish_safety", "finishReason SPII"),
    ({"candidates": [{"finishReason": "BLOCKLIST", "content": {"role": "model"}}]}, "finish_safety", "BLOCKLIST"),
    ({"candidates": [{"citationMetadata": {"citations": [{"uri": "https://example.com"}]},
                      "content": {"role": "model"}, "finishReason": "RECITATION"}]},
     "finish_recitation", "stopped for recitation: finishReason RECITATION"),
    ({"candidates": [{"content": {"parts": [{"text": '{"summ'}], "role": "model"}, "finishReason": "MAX_TOKENS"}]},
     "truncated", "cut at the output token limit (finishReason MAX_TOKENS), not repairable"),
    ({"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}]},
     "truncated", "no text parts (finishReason MAX_TOKENS)"),
    ({"candidates": [{"content": {"role": "model"}, "finishReason": "OTHER"}]},
     "empty_response", "no text parts (finishReason OTHER)"),
    ({"usageMetadata": {"promptTokenCount": 40}}, "empty_response", "no text parts"),
])
def test_answers_the_model_did_not_give_are_dead_letters_with_their_reason(response, reason, detail):
    out = extract_line(_unanswered(response), 6)
    assert isinstance(out, DeadLetter)
    assert (out.reason, out.composite_key) == (reason, encode_key("tok", "INT"))
    assert detail in out.detail
    assert out.retry_request is None  # the same request would be stopped again: not retried
    if "usageMetadata" in response and "promptTokenCount" in response["usageMetadata"]:
        assert out.prompt_tokens == 40


def test_a_truncated_answer_that_repairs_is_a_repaired_row():
    line = L.success("tok", "INT", text='{"summary": "cut sho', finish="MAX_TOKENS")
    out = extract_line(_line(line), 2)
    assert isinstance(out, Record) and out.payload == {"summary": "cut sho"}
    assert (out.repaired, out.finish_reason) == (True, "MAX_TOKENS")


@pytest.mark.parametrize("response, reason", [
    ({"promptFeedback": {"blockReason": "OTHER"}, "usageMetadata": {"promptTokenCount": 40}}, "prompt_blocked"),
    ({"candidates": [{"finishReason": "RECITATION", "content": {"role": "model"}}]}, "finish_recitation"),
    ({"candidates": [{"content": {"parts": [{"text": "{"}]}, "finishReason": "MAX_TOKENS"}]}, "truncated"),
])
def test_a_broken_line_is_classified_the_same_way(response, reason):
    broken = _unanswered(response).replace(b'"status":""', b'"status":"",,')
    out = extract_line(broken, 3)
    assert isinstance(out, DeadLetter) and out.reason == reason and out.retry_request is None
