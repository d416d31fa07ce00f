"""Validation of request fields at the door. Each check names the field it refuses, so that the
caller's 400 says exactly what to fix."""

from __future__ import annotations

import re
from typing import Iterable, Literal, overload

from shared.errors import ValidationError

# Run ids become Firestore document ids, GCS object names and Vertex label values (lowercased):
# keep them to a safe alphabet and length.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
BATCH_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


# The overloads tell the type checker what the code guarantees: a required field, or one with a
# default, is never None.
@overload
def get_str(body: dict, field: str, *, required: Literal[True], default: str | None = None,
            pattern: re.Pattern | None = None, max_len: int = 1024) -> str: ...
@overload
def get_str(body: dict, field: str, *, required: bool = False, default: str,
            pattern: re.Pattern | None = None, max_len: int = 1024) -> str: ...
@overload
def get_str(body: dict, field: str, *, required: bool = False, default: str | None = None,
            pattern: re.Pattern | None = None, max_len: int = 1024) -> str | None: ...
def get_str(body: dict, field: str, *, required: bool = False, default: str | None = None,
            pattern: re.Pattern | None = None, max_len: int = 1024) -> str | None:
    """A string field, stripped; None (or default) when absent and not required."""
    value = body.get(field)
    if value is None or value == "":
        if required:
            raise ValidationError(f"'{field}' is required", field=field)
        return default
    if not isinstance(value, str):
        raise ValidationError(f"'{field}' must be a string", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(f"'{field}' is longer than {max_len} characters", field=field)
    if pattern is not None and not pattern.fullmatch(value):
        raise ValidationError(f"'{field}' has an invalid format", field=field,
                              details={"pattern": pattern.pattern})
    return value


@overload
def get_int(body: dict, field: str, *, default: int, minimum: int | None = None,
            maximum: int | None = None) -> int: ...
@overload
def get_int(body: dict, field: str, *, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int | None: ...
def get_int(body: dict, field: str, *, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValidationError(f"'{field}' must be an integer", field=field)
    value = int(value)
    _check_range(field, value, minimum, maximum)
    return value


@overload
def get_float(body: dict, field: str, *, default: float, minimum: float | None = None,
              maximum: float | None = None) -> float: ...
@overload
def get_float(body: dict, field: str, *, default: float | None = None, minimum: float | None = None,
              maximum: float | None = None) -> float | None: ...
def get_float(body: dict, field: str, *, default: float | None = None, minimum: float | None = None,
              maximum: float | None = None) -> float | None:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"'{field}' must be a number", field=field)
    _check_range(field, float(value), minimum, maximum)
    return float(value)


def get_bool(body: dict, field: str, *, default: bool = False) -> bool:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(f"'{field}' must be true or false", field=field)
    return value


@overload
def get_choice(body: dict, field: str, choices: Iterable[str], *, default: str) -> str: ...
@overload
def get_choice(body: dict, field: str, choices: Iterable[str], *, default: str | None = None) -> str | None: ...
def get_choice(body: dict, field: str, choices: Iterable[str], *, default: str | None = None) -> str | None:
    choices = tuple(choices)
    value = get_str(body, field, default=default)
    if value is not None and value not in choices:
        raise ValidationError(f"'{field}' must be one of {', '.join(choices)}", field=field)
    return value


def get_str_list(body: dict, field: str, *, max_items: int = 10_000, max_len: int = 2048) -> list[str] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"'{field}' must be a list of strings", field=field)
    if len(value) > max_items or any(len(v) > max_len for v in value):
        raise ValidationError(f"'{field}' is too large", field=field)
    return value


@overload
def run_identity(body: dict, *, required: Literal[True]) -> tuple[str, str]: ...
@overload
def run_identity(body: dict, *, required: bool) -> tuple[str | None, str | None]: ...
def run_identity(body: dict, *, required: bool) -> tuple[str | None, str | None]:
    """(run_id, batch_type) validated; batch_type defaults to pass1 when a run_id is given."""
    run_id = get_str(body, "run_id", required=required, pattern=RUN_ID_PATTERN)
    batch_type = get_str(body, "batch_type", default="pass1" if run_id else None, pattern=BATCH_TYPE_PATTERN)
    return run_id, batch_type


def _check_range(field: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValidationError(f"'{field}' must be at least {minimum}", field=field)
    if maximum is not None and value > maximum:
        raise ValidationError(f"'{field}' must be at most {maximum}", field=field)
