"""Seeded generator of realistic call transcripts and interaction lookup rows.

    from tools.sample_data import SampleConfig, generate   # re-exported from this module
    for item in generate(1000, SampleConfig(seed=7)):
        item.transcript   # a row of infra/schemas/transcripts.json
        item.lookups      # rows of infra/schemas/interaction_lookup.json that come with it

The same seed and size give the same rows. Rows are produced one at a time (memory does not grow
with n), so sizes from a handful to millions stream through the writers in tools/sample_data/writers.py.
Command line: `python -m tools.sample_data --help` (tools/sample_data/cli.py).

Realism knobs: transcripts without a lookup row (unmatched), phone tokens that call several times
(repeat callers: several transcripts and lookup rows per token), lookup rows for interactions that
have no transcript (orphans), and edge cases for tests: empty and oversized transcripts.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate
from typing import Iterator, NamedTuple

from tools.sample_data.scenarios import MOOD_WEIGHTS, MOODS, RESOLUTIONS, SCENARIOS, Scenario
from tools.sample_data.text import Calendar, CallValues, TranscriptRenderer

# A repeat caller's follow-up calls come within this many rows of the previous one, so the pending
# follow-ups (the generator's only state) stay a few dozen whatever n is.
MAX_FOLLOW_UP_GAP_ROWS = 300
# Calls per repeat caller: 2, 3, 4 or 5, mostly 2.
REPEAT_CALLS = (2, 3, 4, 5)
REPEAT_CALL_WEIGHTS = (0.65, 0.22, 0.09, 0.04)
# A follow-up is about the same thing as the previous call this often.
SAME_SCENARIO_SHARE = 0.6
# Days between a customer's calls.
MAX_FOLLOW_UP_DAYS = 14
AGENT_COUNT = 120
SEGMENTS = ("residential", "residential_plus", "small_business", "enterprise")
SEGMENT_WEIGHTS = (0.68, 0.14, 0.14, 0.04)
CHANNELS = ("voice", "callback", "web_call")
CHANNEL_WEIGHTS = (0.85, 0.10, 0.05)
# Calls first answered by the general queue instead of the scenario's own.
FRONT_DESK_SHARE = 0.08
FRONT_DESK_QUEUE = "customer_care"
# Spoken English runs at roughly 15 characters a second; holds and silences add to the call.
CHARS_PER_SECOND = 15
OPENING_HOUR, CLOSING_HOUR = 8, 20


@dataclass(frozen=True)
class SampleConfig:
    """What to generate. Shares are probabilities per transcript (repeat_caller_share: per phone token)."""

    seed: int = 0
    min_chars: int = 800
    max_chars: int = 3500
    unmatched_share: float = 0.03
    repeat_caller_share: float = 0.15
    orphan_lookup_share: float = 0.0
    empty_share: float = 0.0
    oversized_share: float = 0.0
    oversized_chars: int = 100_000
    start_date: date = date(2026, 1, 1)
    days: int = 90
    language: str = "en"
    company: str = "Northwind"

    def __post_init__(self):
        for name in ("unmatched_share", "repeat_caller_share", "orphan_lookup_share", "empty_share",
                     "oversized_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.empty_share + self.oversized_share > 1.0:
            raise ValueError("empty_share + oversized_share must not exceed 1")
        if not 1 <= self.min_chars <= self.max_chars:
            raise ValueError("need 1 <= min_chars <= max_chars")
        if self.oversized_chars <= self.max_chars:
            raise ValueError("oversized_chars must exceed max_chars")
        if self.days < 1:
            raise ValueError("days must be at least 1")


class Interaction(NamedTuple):
    """One generated call: its transcript row and the lookup rows emitted with it."""

    transcript: dict
    # The call's own lookup row unless unmatched, then any orphan rows (other interaction ids).
    lookups: tuple[dict, ...]
    # 1 for a phone token's first call, 2 for its second...
    call_index: int
    matched: bool
    scenario: str
    kind: str  # "normal", "empty" or "oversized"


@dataclass(eq=False)
class _Caller:
    """A phone token and the customer behind it, kept while follow-up calls are pending."""

    token: str
    person: dict  # filled lazily by CallValues, on first mention
    segment: str
    calls: int = 0
    day: int = 0
    scenario: Scenario | None = None


@dataclass(eq=False)
class _Run:
    """State of one generate() call."""

    config: SampleConfig
    rng: random.Random
    calendar: Calendar
    renderer: TranscriptRenderer
    agents: tuple[tuple[str, str], ...]
    pending: list = field(default_factory=list)  # heap of (due row, ticket, caller)
    tickets: int = 0  # tie-break of the heap: callers do not compare
    sequence: int = 0  # numbers the interaction ids


def generate(n: int, config: SampleConfig | None = None) -> Iterator[Interaction]:
    """Yield n interactions, deterministically for (config.seed, n); see the module docstring."""
    config = config or SampleConfig()
    if n < 0:
        raise ValueError("n must not be negative")
    rng = random.Random(config.seed)
    calendar = Calendar(config.start_date)
    run = _Run(config, rng, calendar, TranscriptRenderer(rng), _agents())
    for row in range(n):
        yield _interaction(run, _next_caller(run, row, n))


def _agents() -> tuple[tuple[str, str], ...]:
    from tools.sample_data.vocab import AGENT_NAMES

    return tuple((f"AGT-{1001 + i:04d}", AGENT_NAMES[i % len(AGENT_NAMES)]) for i in range(AGENT_COUNT))


def _weighted(rng: random.Random, options, cumulative):
    return options[bisect(cumulative, rng.random() * cumulative[-1])]


_SCENARIO_CUM = tuple(accumulate(s.weight for s in SCENARIOS))
_REPEAT_CUM = tuple(accumulate(REPEAT_CALL_WEIGHTS))
_SEGMENT_CUM = tuple(accumulate(SEGMENT_WEIGHTS))
_CHANNEL_CUM = tuple(accumulate(CHANNEL_WEIGHTS))
_RESOLUTION_CUM = {s.name: tuple(accumulate(s.outcome_weights)) for s in SCENARIOS}
_MOOD_CUM = {res: tuple(accumulate(w)) for res, w in MOOD_WEIGHTS.items()}


def _new_token(rng: random.Random) -> str:
    # Looks like the output of a tokenisation service: no digits of a real number survive.
    return f"tok_{rng.getrandbits(96):024x}"


def _next_caller(run: _Run, row: int, n: int) -> _Caller:
    """A due follow-up caller, or a new one (who may be scheduled to call again). Follow-ups still
    pending when the rows run out are brought forward, so repeat callers do call again."""
    pending = run.pending
    if pending and (pending[0][0] <= row or len(pending) >= n - row):
        return heapq.heappop(pending)[2]
    rng = run.rng
    caller = _Caller(_new_token(rng), {}, _weighted(rng, SEGMENTS, _SEGMENT_CUM))
    if rng.random() < run.config.repeat_caller_share:
        due = row
        for _ in range(_weighted(rng, REPEAT_CALLS, _REPEAT_CUM) - 1):
            due += 1 + int(rng.random() * MAX_FOLLOW_UP_GAP_ROWS)
            run.tickets += 1
            heapq.heappush(pending, (due, run.tickets, caller))
    return caller


def _interaction(run: _Run, caller: _Caller) -> Interaction:
    rng, config = run.rng, run.config
    r = rng.random
    prev_day = caller.day if caller.calls else None
    caller.day = (caller.day + 1 + int(r() * MAX_FOLLOW_UP_DAYS)) if caller.calls else int(r() * config.days)
    caller.calls += 1
    if caller.scenario is None or r() >= SAME_SCENARIO_SHARE:
        caller.scenario = _weighted(rng, SCENARIOS, _SCENARIO_CUM)
    scenario = caller.scenario
    agent_id, agent_name = run.agents[int(r() * len(run.agents))]
    hour = OPENING_HOUR + int(r() * (CLOSING_HOUR - OPENING_HOUR))
    text, kind = _transcript(run, caller, scenario, agent_name, hour, prev_day)
    run.sequence += 1
    iso_day, compact_day, _ = run.calendar.day(caller.day)
    interaction_id = f"INT-{compact_day}-{run.sequence:06d}"
    transcript = {"interaction_id": interaction_id, "phone_number_token": caller.token, "transcript": text,
                  "call_date": iso_day, "language": config.language}
    matched = r() >= config.unmatched_share
    lookups = []
    if matched:
        started = f"{iso_day}T{hour:02d}:{int(r() * 60):02d}:{int(r() * 60):02d}Z"
        lookups.append(_lookup_row(run, caller.token, interaction_id, agent_id, scenario, started,
                                   _duration(rng, text), caller.segment))
    if r() < config.orphan_lookup_share:
        lookups.append(_orphan_row(run, caller))
    return Interaction(transcript, tuple(lookups), caller.calls, matched, scenario.name, kind)


def _transcript(run: _Run, caller: _Caller, scenario: Scenario, agent_name: str, hour: int,
                prev_day: int | None) -> tuple[str, str]:
    """The call's text and its kind; the edge-case draws happen on every call to keep runs stable."""
    rng, config = run.rng, run.config
    draw = rng.random()
    daypart = "morning" if hour < 12 else "afternoon" if hour < 17 else "evening"
    fixed = {"agent": agent_name, "company": config.company, "daypart": daypart}
    values = CallValues(rng, run.calendar, caller.day, prev_day, caller.person, fixed)
    if draw < config.empty_share:
        return "", "empty"
    if draw < config.empty_share + config.oversized_share:
        return run.renderer.render_oversized(scenario, values, config.oversized_chars), "oversized"
    resolution = _weighted(rng, RESOLUTIONS, _RESOLUTION_CUM[scenario.name])
    mood = _weighted(rng, MOODS, _MOOD_CUM[resolution])
    target = run.renderer.target(config.min_chars, config.max_chars)
    text = run.renderer.render(scenario, resolution, mood, values, target, config.min_chars,
                               config.max_chars, follow_up=prev_day is not None)
    return text, "normal"


def _duration(rng: random.Random, text: str) -> int:
    """Seconds on the call: speech time plus holds; an empty transcript was a dropped call."""
    if not text:
        return 5 + int(rng.random() * 55)
    return len(text) // CHARS_PER_SECOND + 30 + int(rng.random() * 270)


def _lookup_row(run: _Run, token: str, interaction_id: str, agent_id: str, scenario: Scenario,
                started_at: str, duration: int, segment: str) -> dict:
    rng = run.rng
    queue = FRONT_DESK_QUEUE if rng.random() < FRONT_DESK_SHARE else scenario.queue
    return {"phone_number_token": token, "interaction_id": interaction_id, "agent_id": agent_id,
            "queue_name": queue, "channel": _weighted(rng, CHANNELS, _CHANNEL_CUM),
            "started_at": started_at, "duration_seconds": duration, "customer_segment": segment}


def _orphan_row(run: _Run, caller: _Caller) -> dict:
    """A lookup row whose interaction has no transcript (a call that was never transcribed): half
    of them on a token that has transcripts, so a lookup by token alone finds the wrong call."""
    rng = run.rng
    token = caller.token if rng.random() < 0.5 else _new_token(rng)
    day = max(0, caller.day - int(rng.random() * 5))
    iso_day, compact_day, _ = run.calendar.day(day)
    run.sequence += 1
    started = f"{iso_day}T{OPENING_HOUR + int(rng.random() * 12):02d}:{int(rng.random() * 60):02d}:00Z"
    agent_id = run.agents[int(rng.random() * len(run.agents))][0]
    scenario = _weighted(rng, SCENARIOS, _SCENARIO_CUM)
    return _lookup_row(run, token, f"INT-{compact_day}-{run.sequence:06d}", agent_id, scenario, started,
                       20 + int(rng.random() * 600), caller.segment)
