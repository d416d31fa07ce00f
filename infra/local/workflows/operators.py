"""Operators of the Workflows expression language, with its type rules.

Workflows is strictly typed where Python is lenient: `"a" + 1`, `not "x"`, `1 < "2"` are TypeErrors, a
boolean is not a number, a missing map key is a KeyError. Each function here raises the Workflows
exception (a catchable WorkflowError with the matching tag) instead of doing what Python would do.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import fail


def type_name(value: Any) -> str:
    """The Workflows name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(op: str, a: Any, b: Any) -> None:
    if not (is_number(a) and is_number(b)):
        raise fail("TypeError", f"unsupported operand types for {op}: {type_name(a)} and {type_name(b)}")


def add(a: Any, b: Any) -> Any:
    """`+`: numbers add, strings concatenate; anything else (string + number too) is a TypeError."""
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    _numbers("+", a, b)
    return a + b


def sub(a: Any, b: Any) -> Any:
    _numbers("-", a, b)
    return a - b


def mul(a: Any, b: Any) -> Any:
    _numbers("*", a, b)
    return a * b


def div(a: Any, b: Any) -> float:
    """`/` always gives a double."""
    _numbers("/", a, b)
    if b == 0:
        raise fail("ZeroDivisionError", "division by zero")
    return a / b


def floordiv(a: Any, b: Any) -> Any:
    """`//`: integer division (floored)."""
    _numbers("//", a, b)
    if b == 0:
        raise fail("ZeroDivisionError", "integer division by zero")
    return a // b if isinstance(a, int) and isinstance(b, int) else float(math.floor(a / b))


def mod(a: Any, b: Any) -> Any:
    _numbers("%", a, b)
    if b == 0:
        raise fail("ZeroDivisionError", "modulo by zero")
    return a % b


def negate(a: Any) -> Any:
    if not is_number(a):
        raise fail("TypeError", f"bad operand type for unary -: {type_name(a)}")
    return -a


def equal(a: Any, b: Any) -> bool:
    """`==`: numbers compare by value (1 == 1.0); other values must have the same type."""
    if is_number(a) and is_number(b):
        return a == b
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return a == b


def order(op: str, a: Any, b: Any) -> bool:
    """`<`, `<=`, `>`, `>=` between two numbers or two strings."""
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise fail("TypeError", f"'{op}' not supported between {type_name(a)} and {type_name(b)}")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def contains(item: Any, container: Any) -> bool:
    """`in`: an element of a list, or a key of a map."""
    if isinstance(container, list):
        return any(equal(item, element) for element in container)
    if isinstance(container, dict):
        if not isinstance(item, str):
            raise fail("TypeError", f"map keys are strings, not {type_name(item)}")
        return item in container
    raise fail("TypeError", f"'in' needs a list or a map, not {type_name(container)}")


def boolean(value: Any, op: str) -> bool:
    """Operands of `and`, `or`, `not` and switch conditions must be booleans."""
    if not isinstance(value, bool):
        raise fail("TypeError", f"{op} needs a boolean, not {type_name(value)}")
    return value


def get_key(container: Any, key: Any) -> Any:
    """`m.key`, `m["key"]`, `l[0]`: KeyError/IndexError when absent, TypeError on anything else."""
    if isinstance(container, dict):
        if not isinstance(key, str):
            raise fail("TypeError", f"map keys are strings, not {type_name(key)}")
        if key not in container:
            raise fail("KeyError", f"key not found: {key}")
        return container[key]
    if isinstance(container, list):
        if not isinstance(key, int) or isinstance(key, bool):
            raise fail("TypeError", f"list indices are integers, not {type_name(key)}")
        if not 0 <= key < len(container):
            raise fail("IndexError", f"list index out of range: {key}")
        return container[key]
    raise fail("TypeError", f"cannot read [{key!r}] of a {type_name(container)}")


def set_key(container: Any, key: Any, value: Any) -> None:
    """Assignment to `m.key`, `m["key"]` (adds the key) or `l[i]` (an existing index)."""
    if isinstance(container, dict):
        if not isinstance(key, str):
            raise fail("TypeError", f"map keys are strings, not {type_name(key)}")
        container[key] = value
    elif isinstance(container, list):
        get_key(container, key)  # same checks as a read: the index must exist
        container[key] = value
    else:
        raise fail("TypeError", f"cannot assign [{key!r}] of a {type_name(container)}")
