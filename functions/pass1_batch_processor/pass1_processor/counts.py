"""The counters a call answers with and a checkpoint keeps: processed = inserted + failed + duplicates."""

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
        return self.processed == self.inserted + self.failed + self.duplicates
