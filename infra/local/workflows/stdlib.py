"""The standard library functions that expressions may call: only those our workflows use.

Each follows its Workflows reference page (name, arguments, result, errors), cited beside it. A name
not listed here is refused when the workflow is loaded. `text.concat` is not in this list because
Workflows has no such function: strings join with `+`, and `string()` converts a number first.

Every function declares the types its arguments accept (`Param`). The same declaration serves twice:
when the workflow loads, a literal argument of a wrong type is refused (that call can only ever raise),
and at run time any other value of a wrong type raises the TypeError Workflows raises, catchable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .errors import fail
from .operators import type_name

ANY = None
NUMBER = ("integer", "double")


@dataclass(frozen=True)
class Param:
    """One argument: its name in the reference and the Workflows types it accepts (ANY: all)."""

    name: str
    types: tuple[str, ...] | None = ANY


@dataclass(frozen=True)
class Function:
    """A library function: its implementation, its arguments, how many of them are required."""

    name: str
    impl: Callable[..., Any]
    params: tuple[Param, ...] = ()
    required: int | None = None  # default: all of them
    needs_runtime: bool = False  # sys.* read the injected clock and environment

    @property
    def min_args(self) -> int:
        return len(self.params) if self.required is None else self.required

    @property
    def max_args(self) -> int:
        return len(self.params)

    def type_error(self, position: int, value: Any) -> str | None:
        """Why `value` cannot be argument `position`, or None when it can."""
        param = self.params[position]
        if param.types is ANY or type_name(value) in param.types:
            return None
        return f"{self.name}() argument {param.name} must be {_a(param.types)}, not {type_name(value)}"

    def call(self, runtime: Any, args: list) -> Any:
        for position, value in enumerate(args):
            problem = self.type_error(position, value)
            if problem:
                raise fail("TypeError", problem)
        return self.impl(runtime, *args) if self.needs_runtime else self.impl(*args)


def _a(types: tuple[str, ...]) -> str:
    """("string", "list") -> "a string or a list"."""
    words = [("an " if t[0] in "aeiou" else "a ") + t for t in types]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _int(value: Any) -> int:
    """From an integer, a double (truncated toward zero) or a string holding an integer."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise fail("ValueError", f"int() of a string that is not an integer: {value!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise fail("ValueError", f"int() of {value}")
    return int(value)


def _double(value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise fail("ValueError", f"double() of a string that is not a number: {value!r}") from None
    return float(value)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def _map_get(container: Any, keys: Any) -> Any:
    """The value at a key (or a list of keys, nested); null when a level is absent or not a map.

    https://cloud.google.com/workflows/docs/reference/stdlib/map/get: "If the input is not a map or if
    the map does not contain the key, returns null"; TypeError "if the key is not a string or a list of
    strings".
    """
    path = keys if isinstance(keys, list) else [keys]
    for key in path:
        if not isinstance(key, str):
            raise fail("TypeError", f"map.get() keys must be strings, not {type_name(key)}")
    value = container
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _list_concat(values: list, value: Any) -> list:
    """A new list: `values` with `value` appended as one element (the source is not modified)."""
    return [*values, value]


def _math_pair(pick: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """math.min / math.max: "If both numbers are integers, returns an integer; otherwise, a
    floating-point number" (https://cloud.google.com/workflows/docs/reference/stdlib/math/min)."""

    def impl(a: Any, b: Any) -> Any:
        result = pick(a, b)
        return result if isinstance(a, int) and isinstance(b, int) else float(result)

    return impl


def _encode_to_string(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # the reference: ValueError for what cannot be encoded
        raise fail("ValueError", f"json.encode_to_string(): {exc}") from None


def _text_substring(source: str, start: int, end: int) -> str:
    """Characters [start, end) of source, both indexes clipped to the string."""
    size = len(source)
    return source[min(max(start, 0), size) : min(max(end, 0), size)]


def _time_format(seconds: Any, zone: str = "") -> str:
    """Seconds since the epoch as ISO 8601 with microseconds ("2024-07-12T12:50:33.000000Z" in UTC).

    https://cloud.google.com/workflows/docs/reference/stdlib/time/format: "up to a microsecond
    precision"; a timezone "not specified or an empty string" is UTC.
    """
    try:
        from zoneinfo import ZoneInfo

        tz = timezone.utc if zone in ("", "UTC", "Etc/UTC") else ZoneInfo(zone)
    except (KeyError, ValueError):
        raise fail("ValueError", f"unknown timezone {zone!r}") from None
    stamp = datetime.fromtimestamp(seconds, tz).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


def _sys_now(runtime: Any) -> float:
    return float(runtime.clock())


def _sys_get_env(runtime: Any, name: str, fallback: Any = ...) -> Any:
    """https://cloud.google.com/workflows/docs/reference/stdlib/sys/get_env: the value, or `default`
    ("the string value to return if the named variable is not set"); TypeError "if either name or
    default is not a string" (checked through the Params, null included).

    Without a default the reference does not say what an unset variable gives: this executor raises a
    KeyError, so a definition relying on it fails here rather than get an unknown value there.
    """
    if name in runtime.env:
        return runtime.env[name]
    if fallback is ...:
        raise fail("KeyError", f"environment variable not found: {name}")
    return fallback


_F = Function
FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        _F("default", _default, (Param("value"), Param("fallback"))),
        _F("len", len, (Param("value", ("string", "list", "map")),)),
        _F("keys", list, (Param("map", ("map",)),)),
        _F("int", _int, (Param("value", ("integer", "double", "string")),)),
        _F("double", _double, (Param("value", ("integer", "double", "string")),)),
        _F("string", _string, (Param("value", ("integer", "double", "boolean", "string")),)),
        _F("map.get", _map_get, (Param("map"), Param("keys", ("string", "list")))),
        # https://cloud.google.com/workflows/docs/reference/stdlib/list/concat: TypeError "if objs is
        # not a list".
        _F("list.concat", _list_concat, (Param("objs", ("list",)), Param("val"))),
        # TypeError "if at least one of x or y is not an integer or floating-point number".
        _F("math.min", _math_pair(min), (Param("x", NUMBER), Param("y", NUMBER))),
        _F("math.max", _math_pair(max), (Param("x", NUMBER), Param("y", NUMBER))),
        # https://cloud.google.com/workflows/docs/reference/stdlib/json/encode_to_string (no indent here).
        _F("json.encode_to_string", _encode_to_string, (Param("data"),)),
        _F("text.substring", _text_substring,
           (Param("source", ("string",)), Param("start", ("integer",)), Param("end", ("integer",)))),
        _F("time.format", _time_format, (Param("seconds", NUMBER), Param("timezone", ("string",))), required=1),
        _F("sys.now", _sys_now, (), needs_runtime=True),
        _F("sys.get_env", _sys_get_env, (Param("name", ("string",)), Param("default", ("string",))),
           required=1, needs_runtime=True),
    )
}
