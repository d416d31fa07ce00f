"""Render one call transcript from a scenario: pick the pieces, reach a target length, fill the values.

Values (amounts, dates, plan names...) are drawn lazily, only for the placeholders the chosen pieces
use (a transcript uses a dozen of some forty), and mostly from pools prepared once: drawing every
value afresh for every transcript would halve the generator's speed.
Everything comes from the one random.Random handed in, so a seed fixes every transcript.
"""

from __future__ import annotations

import dataclasses
import random
import re
from bisect import bisect_left
from datetime import date, timedelta
from itertools import accumulate

from tools.sample_data import vocab
from tools.sample_data.scenarios import SCENARIOS as ALL_SCENARIOS
from tools.sample_data.scenarios import Scenario

# Targets stay this far inside [min_chars, max_chars]: filled values are a little shorter or longer
# than their placeholders, and a detail exchange is up to ~250 characters.
TARGET_MARGIN_LOW = 100
TARGET_MARGIN_HIGH = 250
# Guard for the top-up loop when a transcript came out under min_chars (one part per round).
MAX_TOP_UPS = 50

_ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def ordinal(day: int) -> str:
    """1 -> '1st', 22 -> '22nd', 11 -> '11th'."""
    return f"{day}{_ORDINAL_SUFFIX.get(day, 'th')}"


class Calendar:
    """Day numbers (0 = start date) to the strings rows and transcripts need, cached per day."""

    def __init__(self, start: date):
        self._start = start
        self._cache: dict[int, tuple[str, str, str]] = {}

    def day(self, index: int) -> tuple[str, str, str]:
        """(ISO date, YYYYMMDD, spoken form such as 'March 3rd') of a day number."""
        try:
            return self._cache[index]
        except KeyError:
            d = self._start + timedelta(days=index)
            value = (d.isoformat(), d.strftime("%Y%m%d"), f"{vocab.MONTHS[d.month - 1]} {ordinal(d.day)}")
            self._cache[index] = value
            return value


class CallValues(dict):
    """Placeholder values of one transcript; a missing key is drawn on first use (see module doc).

    `person` is the customer's own dict, shared by all calls of a phone token: the customer's name,
    address and so on are drawn once, on first mention, and stay the same on later calls.
    """

    def __init__(self, rng: random.Random, calendar: Calendar, day: int, prev_day: int | None,
                 person: dict, fixed: dict):
        super().__init__(person)
        self.update(fixed)
        self.r = rng.random
        self.calendar = calendar
        self.day = day
        self.prev_day = prev_day
        self._person = person

    def fill(self, parts: list[str]) -> "CallValues":
        """Draw a value for every placeholder of these parts that has none yet. Done before
        formatting rather than by __missing__ during it: a call from C into Python per placeholder
        cost three times as much as the formatting itself."""
        keys_of = _KEYS
        for part in parts:
            for key in keys_of[part]:
                if key not in self:
                    self._draw(key)
        return self

    def __missing__(self, key: str) -> str:
        # Derived values ask for the values they depend on (plan2 for plan...).
        return self._draw(key)

    def _draw(self, key: str) -> str:
        pool = _POOLS.get(key)
        value = pool[int(self.r() * len(pool))] if pool is not None else _DERIVED[key](self)
        if key in PERSON_KEYS:
            self._person[key] = value
        self[key] = value
        return value

    def pick(self, options):
        return options[int(self.r() * len(options))]

    def spoken_day(self, offset: int) -> str:
        return self.calendar.day(self.day + offset)[2]


def _email(v: CallValues) -> str:
    handle = f"{v['first']}.{v['last']}".lower().replace("'", "")
    return f"{handle}{int(v.r() * 99) + 1}@example.com"


def _prevdate(v: CallValues) -> str:
    if v.prev_day is not None:
        return v.calendar.day(v.prev_day)[2]
    return v.spoken_day(-2 - int(v.r() * 20))


def _faster_speed(v: CallValues) -> str:
    # An upgrade is faster than what the customer has.
    return v.pick(vocab.SPEEDS[vocab.SPEEDS.index(v["speed"]) + 1:])


def _other_plan(v: CallValues) -> str:
    current = vocab.PLANS.index(v["plan"])
    return vocab.PLANS[(current + 1 + int(v.r() * (len(vocab.PLANS) - 1))) % len(vocab.PLANS)]


# Values that depend on the call's day or on other values.
_DERIVED = {
    "email": _email,
    "date": lambda v: v.spoken_day(-1 - int(v.r() * 40)),
    "date2": lambda v: v.spoken_day(1 + int(v.r() * 30)),
    "prevdate": _prevdate,
    "speed2": _faster_speed,
    "plan2": _other_plan,
}

# Placeholders that describe the customer rather than the call.
PERSON_KEYS = frozenset({"first", "last", "zip", "house", "street", "dob", "pin", "email", "acct", "years"})
# Variants drawn once, from a fixed seed, so that a transcript's values cost one draw each.
POOL_SIZE = 2000


def _pools() -> dict[str, tuple[str, ...]]:
    fixed = random.Random("tools.sample_data pools")

    def many(make):
        return tuple(make() for _ in range(POOL_SIZE))

    def money(low, high):
        return many(lambda: f"${low + fixed.random() * (high - low):.2f}")

    def digits(low, high, width=0):
        return many(lambda: f"{fixed.randint(low, high):0{width}d}")

    return {
        "first": vocab.FIRST_NAMES, "last": vocab.LAST_NAMES, "street": vocab.STREETS,
        "zip": digits(10000, 99999), "house": digits(1, 199), "pin": digits(0, 9999, 4),
        "acct": digits(0, 9999, 4), "years": digits(1, 15),
        "dob": many(lambda: f"{fixed.choice(vocab.MONTHS)} {ordinal(fixed.randint(1, 28))}, "
                            f"{fixed.randint(1950, 2004)}"),
        "amount": money(45, 480), "amount2": money(20, 44), "price": money(20, 95),
        "price2": money(15, 70), "fee": money(10, 250), "credit": money(5, 60),
        "day": tuple(ordinal(d) for d in range(1, 29)), "days": digits(2, 10), "months": digits(2, 21),
        "data": digits(1, 12), "plan": vocab.PLANS, "speed": vocab.SPEEDS[:-1], "router": vocab.ROUTERS,
        "weekday": vocab.WEEKDAYS, "slot": vocab.SLOTS, "city": vocab.CITIES,
        "slot_end": ("6pm", "9pm", "midnight", "tomorrow morning"),
        "ref": many(lambda: f"CR-{fixed.randint(100000, 999999)}"),
        "reading": digits(1000, 99999, 5), "reading2": digits(1000, 99999, 5),
    }


_POOLS = _pools()


# Templates are written with {placeholders} for readability and turned into %(placeholder)s once,
# here: %-formatting a 2 KB transcript is about 2.5 times faster than str.format_map.
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def to_percent(template: str) -> str:
    """'{amount}, 5% off' -> '%(amount)s, 5%% off'."""
    return _PLACEHOLDER.sub(r"%(\1)s", template.replace("%", "%%"))


def _compiled(options: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(to_percent(t) for t in options)
    for template in out:
        _KEYS[template] = tuple(dict.fromkeys(_PERCENT_KEY.findall(template)))
    return out


_PERCENT_KEY = re.compile(r"%\((\w+)\)s")
# The placeholders of every compiled template, in order of first use.
_KEYS: dict[str, tuple[str, ...]] = {}


def _compile_scenario(s: Scenario) -> Scenario:
    return dataclasses.replace(
        s, openings=_compiled(s.openings), steps=tuple(_compiled(step) for step in s.steps),
        details=_compiled(s.details), outcomes={k: _compiled(v) for k, v in s.outcomes.items()})


GREETINGS = _compiled(vocab.GREETINGS)
FOLLOW_UPS = _compiled(vocab.FOLLOW_UPS)
VERIFICATIONS = _compiled(vocab.VERIFICATIONS)
FILLERS = _compiled(vocab.FILLERS)
HOLDS = _compiled(vocab.HOLDS)
MOOD_LINES = {mood: _compiled(lines) for mood, lines in vocab.MOOD_LINES.items()}
CLOSINGS = {mood: _compiled(lines) for mood, lines in vocab.CLOSINGS.items()}
SCENARIOS = {s.name: _compile_scenario(s) for s in ALL_SCENARIOS}


class DetailPool:
    """A scenario's optional exchanges (its details, small talk, holds), interleaved and repeated,
    with running lengths: taking enough of them to fill n characters is a bisect and a slice."""

    REPEATS = 3

    def __init__(self, scenario: Scenario):
        parts = _interleave(scenario.details, FILLERS, HOLDS)
        self.size = len(parts)
        self.parts = parts * self.REPEATS
        self.cum = list(accumulate((len(p) + 1 for p in self.parts), initial=0))

    def take(self, body: list[str], start: int, chars: int) -> int:
        """Append parts from `start` on until they add at least `chars` characters; returns the
        index of the next part. Long asks (oversized transcripts) wrap around."""
        while True:
            end = bisect_left(self.cum, self.cum[start] + chars, lo=start)
            if end < len(self.cum):
                body.extend(self.parts[start:end])
                return end % self.size
            body.extend(self.parts[start:])
            chars -= self.cum[-1] - self.cum[start]
            start = 0


class TranscriptRenderer:
    """Builds transcripts for one generator run; holds its random source."""

    def __init__(self, rng: random.Random):
        self._r = rng.random
        self._pools: dict[str, DetailPool] = {}

    def _pick(self, options):
        return options[int(self._r() * len(options))]

    def _pool(self, scenario: Scenario) -> tuple[DetailPool, int]:
        pool = self._pools.get(scenario.name)
        if pool is None:
            pool = self._pools[scenario.name] = DetailPool(scenario)
        return pool, int(self._r() * pool.size)

    def target(self, min_chars: int, max_chars: int) -> int:
        """A length to aim at: peaked in the middle of the range, never at its edges."""
        low = min(min_chars + TARGET_MARGIN_LOW, max_chars)
        high = max(max_chars - TARGET_MARGIN_HIGH, low)
        return int(low + (high - low) * (self._r() + self._r()) / 2)

    def render(self, scenario: Scenario, resolution: str, mood: str, values: CallValues,
               target: int, min_chars: int, max_chars: int, follow_up: bool) -> str:
        """A transcript of about `target` characters, cut at a turn boundary to fit max_chars."""
        scenario = SCENARIOS[scenario.name]
        head, tail = self._frame(scenario, resolution, mood, follow_up)
        size = sum(len(p) + 1 for p in head) + sum(len(p) + 1 for p in tail)
        body: list[str] = []
        for part in (self._pick(VERIFICATIONS), *(self._pick(step) for step in scenario.steps)):
            if size + len(part) <= target:
                body.append(part)
                size += len(part) + 1
        if mood == "negative":
            # An unhappy customer says so somewhere in the middle of the call.
            for _ in range(1 + int(self._r() * 2)):
                line = self._pick(MOOD_LINES["negative"])
                body.insert(int(self._r() * (len(body) + 1)), line)
                size += len(line) + 1
        pool, start = self._pool(scenario)
        if size < target:
            start = pool.take(body, start, target - size)
        parts = head + body + tail
        text = "\n".join(parts) % values.fill(parts)
        for _ in range(MAX_TOP_UPS):
            if len(text) >= min_chars:
                break
            start = pool.take(body, start, 1)
            parts = head + body + tail
            text = "\n".join(parts) % values.fill(parts)
        return _fit(text, max_chars)

    def _frame(self, scenario: Scenario, resolution: str, mood: str, follow_up: bool):
        """The parts every call has: greeting and reason first, outcome and goodbye last."""
        pick = self._pick
        head = [pick(GREETINGS)]
        if follow_up:
            head.append(pick(FOLLOW_UPS))
        head.append(pick(scenario.openings))
        tail = [pick(scenario.outcomes[resolution])]
        if mood == "positive":
            tail.append(pick(MOOD_LINES["positive"]))
        tail.append(pick(CLOSINGS[mood]))
        return head, tail

    def render_oversized(self, scenario: Scenario, values: CallValues, chars: int) -> str:
        """An edge case: a call that goes on and on, about `chars` characters long."""
        scenario = SCENARIOS[scenario.name]
        body = [self._pick(GREETINGS), self._pick(scenario.openings)]
        pool, start = self._pool(scenario)
        pool.take(body, start, chars + 400)
        return _fit("\n".join(body) % values.fill(body), chars)


def _interleave(*pools: tuple[str, ...]) -> tuple[str, ...]:
    """Round-robin over the pools, so that consecutive details come from different pools."""
    out = []
    for i in range(max(len(p) for p in pools)):
        out.extend(p[i] for p in pools if i < len(p))
    return tuple(out)


def _fit(text: str, max_chars: int) -> str:
    """Cut an overlong transcript at the last turn that fits, or hard at max_chars without one."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars + 1)
    return text[:cut] if cut > 0 else text[:max_chars]
