"""poll_status settings from the environment, read once per process."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import env_float, env_int
from shared.envfield import env_field

# Runs refreshed by one sweep call: each costs one Vertex call per job, and a Scheduler attempt has
# a deadline (3 min by default); the stalest runs go first, the rest wait for the next tick.
DEFAULT_SWEEP_LIMIT = 25
MAX_SWEEP_LIMIT = 200
# Retries of one Vertex call during a poll. A poll is cheap to repeat (the caller polls again), so
# it gives up sooner than a submit would.
DEFAULT_VERTEX_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class PollConfig:
    """Each field's variable and meaning are on the field (env_field: the README's table is rendered
    from them)."""

    sweep_limit: int = env_field(DEFAULT_SWEEP_LIMIT, "SWEEP_LIMIT", "runs refreshed per sweep (clamped to 1-200)")
    vertex_deadline_seconds: float = env_field(DEFAULT_VERTEX_DEADLINE_SECONDS, "POLL_VERTEX_DEADLINE_SECONDS",
                                               "retry budget of each Vertex AI call")

    @classmethod
    def from_env(cls) -> "PollConfig":
        return cls(
            sweep_limit=max(1, min(env_int("SWEEP_LIMIT", DEFAULT_SWEEP_LIMIT), MAX_SWEEP_LIMIT)),
            vertex_deadline_seconds=env_float("POLL_VERTEX_DEADLINE_SECONDS", DEFAULT_VERTEX_DEADLINE_SECONDS),
        )
