"""Run notifications on Pub/Sub: publish the outbox documents shared/events.py writes.

An outbox document (`<JOBS_COLLECTION>_notifications/{batch_type}__{run_id}__{seq}`) is written in
the same transaction as the event it announces, so a notification can be late but never lost: the
function that committed it publishes it right after the commit, and the Scheduler sweep
(poll_status) publishes whatever is still unsent. A document is marked sent only after Pub/Sub
acknowledged the publish; a publish retried after a crash carries the same `id` attribute, so a
subscriber drops repeats by that id.

Message: data = the event's JSON summary; attributes run_id, batch_type, event (run.completed,
run.failed, run.cancelled, run.dead_letter_rate, run.stalled), id, sequence.
RUN_EVENTS_TOPIC (a topic id, or projects/P/topics/T) unset: nothing is published and the outbox
keeps its documents.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime

import orjson

from shared.logs import get_logger
from shared.retry import call_with_retry

# A publish that Pub/Sub has not acknowledged by then is left for the sweep.
PUBLISH_TIMEOUT_SECONDS = 30.0
# Unsent documents one sweep publishes at most.
SWEEP_BATCH = 100
# Pub/Sub's message limits (https://cloud.google.com/pubsub/quotas#resource_limits). The emulator
# does not enforce them all, so every message is checked here before it is published.
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
MAX_MESSAGE_BYTES = 10 * 1000 * 1000


class MessageRefused(ValueError):
    """A message Pub/Sub would refuse (a programming error: the outbox keeps it unsent)."""


def check_message(data: bytes, attributes: dict[str, str]) -> None:
    """Refuse what Pub/Sub refuses: too many or too long attributes, a reserved `goog` key, an
    empty message, more than 10 MB."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise MessageRefused(f"{len(attributes)} attributes; Pub/Sub takes at most {MAX_ATTRIBUTES}")
    size = len(data)
    for key, value in attributes.items():
        key_bytes, value_bytes = len(key.encode()), len(str(value).encode())
        if not key or key_bytes > MAX_ATTRIBUTE_KEY_BYTES or key.lower().startswith("goog"):
            raise MessageRefused(f"attribute key {key[:40]!r} is empty, longer than 256 bytes or reserved")
        if value_bytes > MAX_ATTRIBUTE_VALUE_BYTES:
            raise MessageRefused(f"attribute {key!r} is {value_bytes} bytes; at most {MAX_ATTRIBUTE_VALUE_BYTES}")
        size += key_bytes + value_bytes
    if not data and not attributes:
        raise MessageRefused("a message needs data or an attribute")
    if size > MAX_MESSAGE_BYTES:
        raise MessageRefused(f"message of {size} bytes; Pub/Sub takes at most {MAX_MESSAGE_BYTES}")


def topic_path() -> str | None:
    topic = os.environ.get("RUN_EVENTS_TOPIC", "").strip()
    if not topic:
        return None
    if topic.startswith("projects/"):
        return topic
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")
    return f"projects/{project}/topics/{topic}"


@functools.lru_cache(maxsize=1)
def _publisher():
    # Lazy: google.cloud.pubsub costs a few hundred ms to import, and only a final state needs it.
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient()


def message(doc: dict) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub data and attributes of an outbox document."""
    data = orjson.dumps({"id": doc["id"], "event": doc["event"], "run_id": doc["run_id"],
                         "batch_type": doc["batch_type"], "sequence": doc["sequence"],
                         "summary": doc.get("summary") or {},
                         "created_at": doc["created_at"].isoformat() if isinstance(doc.get("created_at"), datetime)
                         else doc.get("created_at")}, default=str)
    attributes = {"run_id": str(doc["run_id"]), "batch_type": str(doc["batch_type"]), "event": str(doc["event"]),
                  "id": str(doc["id"]), "sequence": str(doc["sequence"])}
    return data, attributes


def publish_docs(outbox, docs: list[dict]) -> int:
    """Publish each document and mark it sent; returns how many were sent. Stops at the first
    failure (the rest stay pending for the next sweep)."""
    topic = topic_path()
    if topic is None or not docs:
        return 0

    publisher = _publisher()
    sent = 0
    for doc in docs:
        data, attributes = message(doc)
        check_message(data, attributes)
        publisher.publish(topic, data, **attributes).result(timeout=PUBLISH_TIMEOUT_SECONDS)
        call_with_retry(outbox.document(doc["id"]).update, {"sent": True, "sent_at": datetime.now().astimezone()})
        sent += 1
    return sent


def publish_after_commit(store, ids: list[str]) -> int:
    """Publish the outbox documents a transaction of `store` (a JobStore) just wrote. Never raises:
    the change is committed, and the sweep publishes what is left."""
    if topic_path() is None:
        return 0
    log = get_logger(component="notify")
    outbox = store.outbox()
    try:
        docs = [snap.to_dict() for snap in (outbox.document(i).get() for i in ids) if snap.exists]
        return publish_docs(outbox, [d for d in docs if not d.get("sent")])
    except Exception as exc:  # the commit stands; the sweep publishes the rest
        log.warning("notification publish failed; the sweep retries it", error_type=type(exc).__name__,
                    ids=ids)
        return 0


def publish_pending(store, limit: int = SWEEP_BATCH) -> int:
    """Publish unsent outbox documents of every run (the Scheduler sweep). One equality filter:
    Firestore's automatic single-field index serves it."""
    if topic_path() is None:
        return 0
    from google.cloud.firestore_v1.base_query import FieldFilter


    outbox = store.outbox()
    query = outbox.where(filter=FieldFilter("sent", "==", False)).limit(limit)
    docs = [snap.to_dict() for snap in call_with_retry(lambda: list(query.stream()))]
    docs.sort(key=lambda d: (str(d.get("created_at")), d.get("sequence") or 0))
    return publish_docs(outbox, docs)
