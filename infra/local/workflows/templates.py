"""YAML values with expressions inside (call args, assign values, return, raise), compiled once at load.

Workflows evaluates a string only when the whole string is one `${...}`. A `${` anywhere else is almost
always a mistake (`"run ${run_id}"` is not interpolated by Workflows), so it is refused here.
"""

from __future__ import annotations

from typing import Any

from .errors import WorkflowSyntaxError
from .expressions import compile_expression, is_expression


class Template:
    """A compiled YAML value: `evaluate(env)` gives a fresh Python value each time; `names` are the
    variables its expressions read."""

    def __init__(self, raw: Any, where: str):
        self.raw = raw
        self.is_literal = not _has_expression(raw)
        expressions: list = []
        self._eval = _compile(raw, where, expressions)
        self.names: frozenset[str] = frozenset().union(*(e.names for e in expressions))

    def evaluate(self, env: Any) -> Any:
        return self._eval(env)


def _has_expression(raw: Any) -> bool:
    if isinstance(raw, dict):
        return any(_has_expression(v) for v in raw.values())
    if isinstance(raw, list):
        return any(_has_expression(v) for v in raw)
    return is_expression(raw)


def _compile(raw: Any, where: str, expressions: list):
    """An evaluator for `raw`; every expression compiled on the way is appended to `expressions`."""
    if isinstance(raw, dict):
        parts = [(_key(k, where), _compile(v, where, expressions)) for k, v in raw.items()]
        return lambda env: {k: part(env) for k, part in parts}
    if isinstance(raw, list):
        items = [_compile(v, where, expressions) for v in raw]
        return lambda env: [item(env) for item in items]
    if is_expression(raw):
        expressions.append(compile_expression(raw, where))
        return expressions[-1].evaluate
    if isinstance(raw, str) and "${" in raw:
        raise WorkflowSyntaxError(
            f"{where}: {raw!r} mixes text and an expression; Workflows only evaluates a value that is "
            'one whole ${...} (join strings with +, e.g. ${"run " + run_id})'
        )
    if raw is not None and not isinstance(raw, (str, bool, int, float)):
        raise WorkflowSyntaxError(f"{where}: unsupported YAML value {raw!r} ({type(raw).__name__})")
    return lambda env: raw


def _key(key: Any, where: str) -> str:
    if isinstance(key, str) and "${" in key:
        raise WorkflowSyntaxError(f"{where}: map keys are never evaluated: {key!r}")
    if isinstance(key, bool) or not isinstance(key, (str, int, float)):
        raise WorkflowSyntaxError(f"{where}: unsupported map key {key!r}")
    return str(key)
