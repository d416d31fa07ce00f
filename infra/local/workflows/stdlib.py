"""The standard library functions that expressions may call: only those our workflows use.

Each follows its Workflows reference page (name, arguments, result, errors). A name not listed here is
refused when the workflow is loaded. `text.concat` is not in this list because Workflows has no such
function: strings join with `+`, and `string()` converts a number first.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .errors import fail
from .operators import is_number, type_name


@dataclass(frozen=True)
class Function:
    """A library function: its implementation and how many arguments it takes."""

    impl: Callable[..., Any]
    min_args: int
    max_args: int
    needs_runtime: bool = False  # sys.* read the injected clock and environment


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _len(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise fail("TypeError", f"len() of a {type_name(value)}")


def _keys(value: Any) -> list:
    if not isinstance(value, dict):
        raise fail("TypeError", f"keys() of a {type_name(value)}")
    return list(value)


def _int(value: Any) -> int:
    """From an integer, a double (truncated toward zero) or a string holding an integer."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise fail("ValueError", f"int() of a string that is not an integer: {value!r}") from None
    if is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise fail("ValueError", f"int() of {value}")
        return int(value)
    raise fail("TypeError", f"int() of a {type_name(value)}")


def _double(value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise fail("ValueError", f"double() of a string that is not a number: {value!r}") from None
    if is_number(value):
        return float(value)
    raise fail("TypeError", f"double() of a {type_name(value)}")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return repr(value)
    raise fail("TypeError", f"string() of a {type_name(value)}")


def _map_get(container: Any, keys: Any) -> Any:
    """The value at a key (or a list of keys, nested), or null when any level is absent."""
    path = keys if isinstance(keys, list) else [keys]
    value = container
    for key in path:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise fail("TypeError", f"map.get() on a {type_name(value)}")
        if not isinstance(key, str):
            raise fail("TypeError", f"map.get() key must be a string, not {type_name(key)}")
        value = value.get(key)
    return value


def _list_concat(values: Any, value: Any) -> list:
    """A new list: `values` with `value` appended as one element."""
    if not isinstance(values, list):
        raise fail("TypeError", f"list.concat() of a {type_name(values)}")
    return [*values, value]


def _math_pair(name: str, pick: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def impl(a: Any, b: Any) -> Any:
        if not (is_number(a) and is_number(b)):
            raise fail("TypeError", f"{name}() of {type_name(a)} and {type_name(b)}")
        return pick(a, b)

    return impl


def _encode_to_string(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _text_substring(source: Any, start: Any, end: Any) -> str:
    """Characters [start, end) of source, both indexes clipped to the string."""
    if not isinstance(source, str):
        raise fail("TypeError", f"text.substring() of a {type_name(source)}")
    if any(isinstance(i, bool) or not isinstance(i, int) for i in (start, end)):
        raise fail("TypeError", "text.substring() indexes must be integers")
    size = len(source)
    return source[min(max(start, 0), size) : min(max(end, 0), size)]


def _time_format(seconds: Any, zone: Any = "UTC") -> str:
    """Seconds since the epoch as an ISO 8601 timestamp ("2024-06-01T02:00:00Z" in UTC)."""
    if not is_number(seconds):
        raise fail("TypeError", f"time.format() of a {type_name(seconds)}")
    if not isinstance(zone, str):
        raise fail("TypeError", f"time.format() timezone must be a string, not {type_name(zone)}")
    try:
        from zoneinfo import ZoneInfo

        tz = timezone.utc if zone in ("UTC", "Etc/UTC") else ZoneInfo(zone)
    except (KeyError, ValueError):
        raise fail("ValueError", f"unknown timezone {zone!r}") from None
    return datetime.fromtimestamp(seconds, tz).isoformat().replace("+00:00", "Z")


def _sys_now(runtime: Any) -> float:
    return float(runtime.clock())


def _sys_get_env(runtime: Any, name: Any, fallback: Any = ...) -> Any:
    if not isinstance(name, str):
        raise fail("TypeError", f"sys.get_env() name must be a string, not {type_name(name)}")
    if name in runtime.env:
        return runtime.env[name]
    if fallback is ...:
        raise fail("KeyError", f"environment variable not found: {name}")
    return fallback


FUNCTIONS: dict[str, Function] = {
    "default": Function(_default, 2, 2),
    "len": Function(_len, 1, 1),
    "keys": Function(_keys, 1, 1),
    "int": Function(_int, 1, 1),
    "double": Function(_double, 1, 1),
    "string": Function(_string, 1, 1),
    "map.get": Function(_map_get, 2, 2),
    "list.concat": Function(_list_concat, 2, 2),
    "math.min": Function(_math_pair("math.min", min), 2, 2),
    "math.max": Function(_math_pair("math.max", max), 2, 2),
    "json.encode_to_string": Function(_encode_to_string, 1, 1),
    "text.substring": Function(_text_substring, 3, 3),
    "time.format": Function(_time_format, 1, 2),
    "sys.now": Function(_sys_now, 0, 0, needs_runtime=True),
    "sys.get_env": Function(_sys_get_env, 1, 2, needs_runtime=True),
}
