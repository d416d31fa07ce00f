"""Records -> request entries: one per transcript worth sending, with the reasons for the ones that
are not sent counted (never logged: they hold personal data)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from batch_submit.prompts import PromptSpec
from batch_submit.shards import RequestEntry
from batch_submit.sources import INVALID
from shared.keys import encode_key

# Reasons a record is not sent (the keys of skipped_reasons in the answer and the run document).
EMPTY = "empty_transcript"
TOO_LONG = "transcript_too_long"
NO_PHONE = "missing_phone_token"
NO_INTERACTION = "missing_interaction_id"
INVALID_RECORD = "invalid_record"
DUPLICATE = "duplicate_key"
REQUEST_TOO_LARGE = "request_too_large"  # one line larger than a whole job may be
# Ids longer than this are not ours (the key travels in every output line and in BigQuery).
MAX_ID_CHARS = 256


@dataclass
class PrepareStats:
    """What preparation kept and dropped (requests: lines written, counted by the shard writer)."""

    requests: int = 0
    skipped: Counter = field(default_factory=Counter)

    @property
    def skipped_records(self) -> int:
        return sum(self.skipped.values())


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) else None


def skip_reason(record: dict, max_chars: int) -> str | None:
    """Why this record is not sent, or None when it is."""
    if record is INVALID:
        return INVALID_RECORD
    phone, interaction = _text(record.get("phone_number_token")), _text(record.get("interaction_id"))
    if not phone or len(phone) > MAX_ID_CHARS:
        return NO_PHONE
    if not interaction or len(interaction) > MAX_ID_CHARS:
        return NO_INTERACTION
    transcript = record.get("transcript")
    if not isinstance(transcript, str) or not transcript.strip():
        return EMPTY
    if len(transcript) > max_chars:
        return TOO_LONG
    return None


def request_entries(records: Iterable[dict], prompt: PromptSpec, max_chars: int,
                    stats: PrepareStats) -> Iterator[RequestEntry]:
    """One entry per record worth sending, keyed by encode_key(phone token, interaction id).
    Adjacent duplicates of a key are sent once (a table source is ordered by key)."""
    previous_key = None
    for record in records:
        reason = skip_reason(record, max_chars)
        if reason:
            stats.skipped[reason] += 1
            continue
        phone, interaction = _text(record["phone_number_token"]), _text(record["interaction_id"])
        key = encode_key(phone, interaction)  # type: ignore[arg-type]  # skip_reason: both present
        if key == previous_key:
            stats.skipped[DUPLICATE] += 1
            continue
        previous_key = key
        yield RequestEntry(key, phone, interaction, prompt.request_for(record["transcript"]))
