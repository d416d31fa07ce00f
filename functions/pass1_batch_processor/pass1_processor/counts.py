"""The counters a call answers with and a checkpoint keeps:
processed = inserted + failed + duplicates + pending (pending: records staged whose file is not merged
yet; 0 once every file of the call is done)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Counts:
    """Counters of one chunk, one file or a whole scope (they add up)."""

    processed: int = 0      # non-blank lines read
    inserted: int = 0       # output rows written
    failed: int = 0         # dead-letter rows written
    duplicates: int = 0     # lines whose key was already written for the run
    repaired: int = 0       # inserted rows whose JSON needed repair
    unmatched: int = 0      # inserted rows without a lookup match
    unconverted: int = 0    # answer values that did not fit their column (kept in extra)
    retry_requests: int = 0  # failed model requests set aside for retry_failed
    prompt_tokens: int = 0
    candidates_tokens: int = 0
    total_tokens: int = 0
    pending: int = 0        # records staged, their file not merged yet (filemerge.py)

    def add(self, other: "Counts") -> "Counts":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Counts":
        data = data or {}
        return cls(**{f.name: int(data.get(f.name) or 0) for f in fields(cls)})

    def balanced(self) -> bool:
        """The invariant every checkpoint keeps."""
        return self.processed == self.inserted + self.failed + self.duplicates + self.pending


def staged_counts(processed: int, dead: list, tokens: "Counts") -> "Counts":
    """What a staged chunk counts: its lines, dead letters, retry requests and tokens. Inserted,
    duplicates, unmatched, repaired and unconverted are known once the file is merged (file_counts)."""
    out = Counts(processed=processed, failed=len(dead), pending=processed - len(dead),
                 retry_requests=sum(1 for d in dead if d.retry_request is not None))
    out.prompt_tokens, out.candidates_tokens, out.total_tokens = (tokens.prompt_tokens, tokens.candidates_tokens,
                                                                  tokens.total_tokens)
    return out


def file_counts(staged: "Counts", inserted: int, unmatched: int, repaired: int, unconverted: int) -> "Counts":
    """What a merged file adds to its staged counts: its rows in the output table (the tally) and,
    of its staged records, those not inserted as duplicates; processed = inserted + failed +
    duplicates then holds for the file."""
    records = staged.processed - staged.failed
    return Counts(inserted=inserted, duplicates=records - inserted, unmatched=unmatched, repaired=repaired,
                  unconverted=unconverted, pending=-records)
