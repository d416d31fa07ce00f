"""The loaded workflow: one class per step kind, holding compiled templates and expressions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .expressions import Expression
from .retry import RetryPolicy
from .templates import Template

# `next` targets that are not step names.
END, CONTINUE, BREAK = "end", "continue", "break"


@dataclass(frozen=True)
class Target:
    """The left side of an assignment: a variable, optionally followed by `.key` / `[expr]` accessors."""

    root: str
    keys: tuple[Expression | str, ...] = ()
    text: str = ""


@dataclass(kw_only=True)
class Step:
    name: str
    path: str  # "main > process_units > process", for messages and progress
    next: str | None = None


@dataclass
class Block:
    """A list of steps; `index` finds a jump target in it."""

    steps: list[Step]
    index: dict[str, int] = field(default_factory=dict)


@dataclass(kw_only=True)
class AssignStep(Step):
    items: list[tuple[Target, Template]]


@dataclass(kw_only=True)
class CallStep(Step):
    target: str
    args: dict[str, Template]
    result: str | None = None


@dataclass(kw_only=True)
class Case:
    """One `switch` condition and what it does when it is the first true one."""

    condition: Template
    next: str | None = None
    assign: list[tuple[Target, Template]] | None = None
    steps: Block | None = None
    raise_value: Template | None = None
    return_value: Template | None = None
    returns: bool = False


@dataclass(kw_only=True)
class SwitchStep(Step):
    cases: list[Case]


@dataclass(kw_only=True)
class ForLoop:
    value: str
    index: str | None
    items: Template | None  # `in`
    range: Template | None
    body: Block


@dataclass(kw_only=True)
class ForStep(Step):
    loop: ForLoop


@dataclass(kw_only=True)
class ParallelStep(Step):
    loop: ForLoop
    shared: tuple[str, ...]
    concurrency_limit: Template | None


@dataclass(kw_only=True)
class TryStep(Step):
    body: Block
    retry: RetryPolicy | None
    except_as: str | None
    except_body: Block | None


@dataclass(kw_only=True)
class RaiseStep(Step):
    value: Template


@dataclass(kw_only=True)
class ReturnStep(Step):
    value: Template | None


@dataclass(kw_only=True)
class StepsStep(Step):
    body: Block


@dataclass(kw_only=True)
class NextStep(Step):
    """A step that only jumps."""


@dataclass
class Workflow:
    """A loaded definition: `main`'s parameter names and steps."""

    params: list[str]
    main: Block
    source: str = "<string>"
    raw: Any = None
