"""Execution state: injected clock and sleep, event hook, variable scopes, the shared-variable lock.

Scopes follow Workflows: a for iteration, a parallel branch and an except block each get a child scope.
Reading walks up to the parents; assigning a name that a parent already holds updates it there, a new
name stays local and disappears with the child. From a parallel branch, a parent variable may only be
assigned when the parallel step lists it in `shared` (Workflows refuses the deploy otherwise): the
loader refuses such a definition (validate.py), and the check here stays as a second line.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import WorkflowSyntaxError, fail

# Workflows stops an execution after this many steps: a runaway loop fails here as it would there.
MAX_STEPS = 100_000


@dataclass
class Runtime:
    """What one execution shares across its steps and threads."""

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    env: dict[str, str]
    on_event: Callable[[dict], None] | None = None
    # Guards shared variables: one assign step inside a parallel branch runs under it, so that
    # `total: ${total + n}` is atomic, as Workflows promises for shared variables.
    shared_lock: threading.RLock = field(default_factory=threading.RLock)
    _events_lock: threading.Lock = field(default_factory=threading.Lock)
    _steps: itertools.count = field(default_factory=itertools.count)

    def emit(self, event: dict) -> None:
        """Hand one progress event to the hook; calls are serialised, so hooks need no locking."""
        if self.on_event is not None:
            with self._events_lock:
                self.on_event(event)

    def count_step(self) -> None:
        if next(self._steps) >= MAX_STEPS:
            raise fail("ResourceLimitError", f"more than {MAX_STEPS} steps in one execution")


class Scope:
    """Variables of one level; `shared` is set on the scope of a parallel branch."""

    def __init__(self, parent: Scope | None = None, shared: frozenset[str] | None = None):
        self.vars: dict[str, Any] = {}
        self.parent = parent
        self.shared = shared

    @property
    def in_branch(self) -> bool:
        scope: Scope | None = self
        while scope is not None:
            if scope.shared is not None:
                return True
            scope = scope.parent
        return False

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        raise fail("KeyError", f"variable not defined: {name}")

    def _owner(self, name: str, path: str) -> Scope | None:
        """The scope that holds `name` (checking the shared rule), or None when it is new."""
        scope: Scope | None = self
        crossed: list[Scope] = []
        while scope is not None:
            if name in scope.vars:
                for branch in crossed:
                    if name not in branch.shared:
                        raise WorkflowSyntaxError(
                            f"{path}: a parallel branch assigns {name!r}, a variable of the enclosing scope "
                            "that is not listed in the parallel step's shared"
                        )
                return scope
            if scope.shared is not None:
                crossed.append(scope)
            scope = scope.parent
        return None

    def assign(self, name: str, value: Any, path: str) -> None:
        owner = self._owner(name, path)
        (owner or self).vars[name] = value

    def for_update(self, name: str, path: str) -> Any:
        """The current value of `name`, to be modified in place (`m.key: v`)."""
        owner = self._owner(name, path)
        if owner is None:
            raise fail("KeyError", f"variable not defined: {name}")
        return owner.vars[name]


@dataclass(frozen=True)
class Frame:
    """Where a step runs: its scope, the execution, and the parallel branch (for progress events).

    A Frame is also the environment expressions evaluate in (`lookup`, `runtime`).
    """

    scope: Scope
    runtime: Runtime
    branch: str | None = None

    def lookup(self, name: str) -> Any:
        return self.scope.lookup(name)

    def child(self, scope: Scope, branch: str | None = None) -> Frame:
        return Frame(scope, self.runtime, branch or self.branch)

    def write_lock(self):
        """The shared-variable lock inside a parallel branch; nothing to lock outside one."""
        return self.runtime.shared_lock if self.scope.in_branch else nullcontext()

    def emit(self, event_type: str, **fields: Any) -> None:
        self.runtime.emit({"type": event_type, "branch": self.branch, **fields})
