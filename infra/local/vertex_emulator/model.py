"""A deterministic local stand-in for Gemini: transcript in, pass1 call analysis out.

Keyword rules decide the fields; a hash of the transcript breaks ties, so the same transcript always
gives the same analysis. Nothing here is clever on purpose: it only has to be plausible and stable.
"""

import functools
import hashlib
import re

SPEAKER = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:\d{1,2}:\d{2}(?::\d{2})?\s*)?"
    r"(agent|customer|caller|client|rep|representative|support|speaker\s*\d+)\s*[:\-]\s*(.*)$",
    re.IGNORECASE,
)
TRANSCRIPT_TAG = re.compile(r"<transcript[^>]*>(.*?)</transcript>", re.IGNORECASE | re.DOTALL)
TRANSCRIPT_LABEL = re.compile(r"transcript\s*:\s*(.+)", re.IGNORECASE | re.DOTALL)

# intent -> keywords; the order breaks nothing (ties go to the hash), it only reads well.
INTENTS = {
    "billing_dispute": ("refund", "bill", "charge", "invoice", "overcharg", "payment", "fee"),
    "cancellation": ("cancel", "terminate", "close my account", "switch provider", "leaving"),
    "technical_support": ("internet", "outage", "router", "modem", "wifi", "connection", "signal", "slow"),
    "plan_upgrade": ("upgrade", "plan", "package", "faster", "premium", "add a line"),
    "general_inquiry": ("question", "information", "hours", "address", "how do i"),
}
INTENT_PHRASES = {
    "billing_dispute": "a billing dispute",
    "cancellation": "cancelling the service",
    "technical_support": "a technical problem",
    "plan_upgrade": "changing to a different plan",
    "general_inquiry": "a general question",
}
TOPICS = {
    "billing": ("bill", "charge", "invoice", "payment", "fee"),
    "refund": ("refund", "credit back", "reimburse"),
    "cancellation": ("cancel", "terminate"),
    "connectivity": ("internet", "outage", "connection", "wifi", "signal", "slow"),
    "equipment": ("router", "modem", "device", "box"),
    "plan_change": ("upgrade", "plan", "package", "downgrade"),
    "pricing": ("price", "discount", "promotion", "cheaper", "offer"),
    "technician_visit": ("technician", "appointment", "visit"),
    "account_access": ("password", "login", "log in", "locked out"),
}
NEGATIVE = ("angry", "frustrat", "unacceptable", "ridiculous", "terrible", "upset", "worst", "annoy",
            "disappoint", "furious", "fed up", "complain")
POSITIVE = ("thank you", "thanks", "great", "appreciate", "perfect", "wonderful", "helpful",
            "excellent", "awesome")
ESCALATED = ("supervisor", "manager", "escalat", "transfer you", "specialist team")
RESOLVED = ("resolved", "fixed", "working now", "taken care", "processed", "all set", "applied",
            "is back", "sorted")
UNRESOLVED = ("still not", "call back", "not working", "no solution", "can't help", "cannot help")
CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){13,16}\b")


def request_texts(request):
    """Every text part of the request's `contents`, in order (systemInstruction left out)."""
    texts = []
    for content in (request or {}).get("contents") or []:
        for part in (content or {}).get("parts") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


def extract_transcript(request):
    """The transcript inside the prompt: tagged, dialogue lines, after 'Transcript:', or the last text.

    Instructions around the transcript name the very labels we look for (escalated, cancellation...),
    so reading only the transcript keeps them from deciding the analysis.
    """
    joined = "\n".join(request_texts(request))
    tagged = TRANSCRIPT_TAG.search(joined)
    if tagged:
        return tagged.group(1).strip()
    dialogue = [line.strip() for line in joined.splitlines() if SPEAKER.match(line)]
    if len(dialogue) >= 2:
        return "\n".join(dialogue)
    labelled = TRANSCRIPT_LABEL.search(joined)
    if labelled:
        return labelled.group(1).strip()
    texts = request_texts(request)
    return texts[-1].strip() if texts else ""


@functools.lru_cache(maxsize=None)
def _pattern(words):
    return re.compile("|".join(re.escape(word) for word in words))


def _count(text, words):
    """How many times any of `words` occurs in `text` (one compiled pattern per word group: fast)."""
    return len(_pattern(words).findall(text))


def _customer_sentence(transcript):
    for line in transcript.splitlines():
        match = SPEAKER.match(line)
        if match and match.group(1).lower() in ("customer", "caller", "client") and match.group(2):
            return match.group(2)
    words = transcript.split()
    return " ".join(words[:18])


def _first_sentence(text, limit=140):
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + "..."


def _intent(low, digest):
    scores = {intent: _count(low, words) for intent, words in INTENTS.items()}
    best = max(scores.values())
    if best == 0:
        return "general_inquiry"
    tied = [intent for intent, score in scores.items() if score == best]
    return tied[digest[0] % len(tied)]


def _sentiment(low, digest):
    score = _count(low, POSITIVE) - _count(low, NEGATIVE)
    if score == 0 and (_count(low, POSITIVE) or _count(low, NEGATIVE)):
        return ("neutral", "negative", "positive")[digest[1] % 3]
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def _resolution(low):
    if _count(low, ESCALATED):
        return "escalated"
    return "resolved" if _count(low, RESOLVED) > _count(low, UNRESOLVED) else "unresolved"


def _compliance(transcript, low, digest):
    flags = []
    if CARD_NUMBER.search(transcript):
        flags.append("pci_sensitive_data")
    if "social security" in low or "ssn" in low or "date of birth" in low:
        flags.append("pii_disclosure")
    if "recorded" not in low and digest[2] % 10 == 0:
        flags.append("missing_recording_disclosure")
    return flags


def analyse(transcript):
    """The pass1 analysis dict for a transcript; the same transcript gives the same dict."""
    digest = hashlib.sha256(transcript.encode("utf-8")).digest()
    low = transcript.lower()
    intent = _intent(low, digest)
    sentiment = _sentiment(low, digest)
    resolution = _resolution(low)
    topics = [topic for topic, words in TOPICS.items() if _count(low, words)][:4] or [intent]
    score = 3 + (resolution == "resolved") - (resolution == "escalated")
    score += {"positive": 1, "neutral": 0, "negative": -1}[sentiment]
    quote = _first_sentence(_customer_sentence(transcript)) or "no details given"
    outcome = {"resolved": "resolved the issue during the call",
               "unresolved": "could not resolve the issue on this call",
               "escalated": "escalated the case"}[resolution]
    return {
        "summary": f'The customer called about {INTENT_PHRASES[intent]}, saying "{quote}". The agent {outcome}.',
        "sentiment": sentiment,
        "customer_intent": intent,
        "resolution_status": resolution,
        "topics": topics,
        "agent_performance_score": max(1, min(5, score)),
        "compliance_flags": _compliance(transcript, low, digest),
        "follow_up_required": resolution != "resolved" or "follow up" in low or "call back" in low,
    }


def model_version(model):
    """The `modelVersion` reported for a requested model path, e.g. 'gemini-2.5-flash'.

    Real Gemini 2.x batch output reports the bare model id (no -001 suffix) for publisher models.
    """
    return (model or "").rstrip("/").rsplit("/", 1)[-1] or "unknown-model"
