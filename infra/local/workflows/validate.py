"""Deploy-time rules of Cloud Workflows that need the whole definition, checked once it is loaded.

loader.py checks each step's own shape; this module checks what only the definition as a whole can
tell, and refuses a definition the real service would not deploy (or could only ever fail), naming the
step:

- Step names are unique in a workflow, nested lists included: "Step names must be unique at the
  subworkflow level" (https://cloud.google.com/workflows/docs/reference/syntax/steps).
- A switch has at most 50 conditions (https://cloud.google.com/workflows/docs/reference/syntax/conditions).
- A literal `concurrency_limit` is a positive integer: "Must be a positive integer and can be either a
  literal value or an expression" (https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps),
  and at most 20, the number of branches and iterations one execution runs at once (Workflows quotas and
  limits page, https://cloud.google.com/workflows/quotas): a higher limit would only ever queue, so the
  stack refuses it (an expression above 20 fails when it is evaluated, executor.py).
- A for loop's value and index variables "must not be used in assignments or expressions outside of
  the loop. The same name can be used in multiple loops, as long as they are not nested"
  (https://cloud.google.com/workflows/docs/reference/syntax/iteration).
- "A variable created inside a for loop belongs to the local scope of that loop ... accessing it
  outside of the loop will raise an error when deploying the workflow. This local scoping also applies
  to any variable created inside an except block"
  (https://cloud.google.com/workflows/docs/reference/syntax/variables). A parallel branch is a scope of
  its own too ("local_result is local to this branch scope", the parallel-steps reference's sample).
- In a parallel step, `shared` lists "writable variables with parent scope"; assigning a variable
  "defined in the parent scope but not marked shared" is a deployment error (parallel-steps reference
  and its sample workflows-parallel-shared-variables). A shared variable must therefore exist in the
  parent scope.

Scopes are decided without following the flow, as a deploy-time check must: a name assigned anywhere
at a scope's own level belongs to that scope unless an enclosing scope already has it, in which case
the assignment updates the enclosing variable. (The executor still checks the shared rule while
running, runtime.py, as a second line.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from . import model as m
from .errors import WorkflowSyntaxError

# Workflows runs at most this many branches/iterations of one parallel step at once (quotas page).
MAX_CONCURRENT_BRANCHES = 20

MAX_SWITCH_CONDITIONS = 50
_LOCAL = "(variables created in a for loop, a parallel branch or an except block are local to it)"


@dataclass(eq=False)
class _Scope:
    """One variable scope: main, a for body, a parallel branch, or an except block."""

    kind: str  # "main", "for", "parallel", "except"
    path: str  # the step that opens it
    parent: _Scope | None
    declared: frozenset[str] = frozenset()  # loop value/index, except `as`: always this scope's own
    shared: frozenset[str] = frozenset()
    writes: set[str] = field(default_factory=set)  # plain assignments made at this very level
    own: set[str] = field(default_factory=set)

    def chain(self) -> Iterator[_Scope]:
        """This scope, then each enclosing one."""
        scope: _Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def owner(self, name: str) -> _Scope | None:
        """The scope whose variable `name` is, seen from here."""
        return next((s for s in self.chain() if name in s.own or name in s.declared), None)


@dataclass(frozen=True)
class _Use:
    """A name met while walking: read, written (`x: v`, `result: x`), updated (`x.k: v`) or declared."""

    kind: str  # "read", "write", "update", "declare", "shared"
    name: str
    path: str
    scope: _Scope


class _Walker:
    """Collects scopes and uses in textual order, checking the rules that need no scopes on the way."""

    def __init__(self, params: list[str]):
        self.main = _Scope("main", "main", None, declared=frozenset(params))
        self.scopes = [self.main]
        self.uses: list[_Use] = []
        self.step_paths: dict[str, str] = {}
        self.loop_variables: dict[str, str] = {}  # name -> path of the first loop declaring it

    def use(self, kind: str, names, path: str, scope: _Scope) -> None:
        self.uses.extend(_Use(kind, name, path, scope) for name in sorted(names))
        if kind == "write":
            scope.writes.update(names)

    def scope(self, kind: str, path: str, parent: _Scope, declared=(), shared=()) -> _Scope:
        scope = _Scope(kind, path, parent, frozenset(declared), frozenset(shared))
        self.scopes.append(scope)
        return scope

    def block(self, block: m.Block, scope: _Scope) -> None:
        named = bool(block.index)  # a try's single unnamed step carries the try's own name
        for step in block.steps:
            if named:
                self.name(step)
            self.step(step, scope)

    def name(self, step: m.Step) -> None:
        if step.name in self.step_paths:
            raise WorkflowSyntaxError(f"{step.path}: step name {step.name!r} is already used by "
                                      f"{self.step_paths[step.name]}: step names must be unique in a workflow")
        self.step_paths[step.name] = step.path

    def step(self, step: m.Step, scope: _Scope) -> None:
        if isinstance(step, m.AssignStep):
            self.assignments(step.items, step.path, scope)
        elif isinstance(step, m.CallStep):
            self.call(step, scope)
        elif isinstance(step, m.SwitchStep):
            self.switch(step, scope)
        elif isinstance(step, (m.ForStep, m.ParallelStep)):
            self.loop(step, scope)
        elif isinstance(step, m.TryStep):
            self.try_except(step, scope)
        elif isinstance(step, (m.RaiseStep, m.ReturnStep)) and step.value is not None:
            self.use("read", step.value.names, step.path, scope)
        elif isinstance(step, m.StepsStep):
            self.block(step.body, scope)

    def call(self, step: m.CallStep, scope: _Scope) -> None:
        for template in step.args.values():
            self.use("read", template.names, step.path, scope)
        if step.result:
            self.use("write", {step.result}, step.path, scope)

    def try_except(self, step: m.TryStep, scope: _Scope) -> None:
        self.block(step.body, scope)  # the try body is no scope of its own
        if step.except_body is not None:
            declared = {step.except_as} if step.except_as else set()
            inner = self.scope("except", step.path, scope, declared)
            self.use("declare", declared, step.path, inner)
            self.block(step.except_body, inner)

    def assignments(self, items: list, path: str, scope: _Scope) -> None:
        for target, value in items:
            self.use("read", value.names, path, scope)
            for key in target.keys:
                if not isinstance(key, str):
                    self.use("read", key.names, path, scope)
            self.use("update" if target.keys else "write", {target.root}, path, scope)

    def switch(self, step: m.SwitchStep, scope: _Scope) -> None:
        if len(step.cases) > MAX_SWITCH_CONDITIONS:
            raise WorkflowSyntaxError(f"{step.path}: a switch has at most {MAX_SWITCH_CONDITIONS} conditions, "
                                      f"got {len(step.cases)}")
        for case in step.cases:
            self.use("read", case.condition.names, step.path, scope)
            if case.assign:
                self.assignments(case.assign, step.path, scope)
            if case.steps:
                self.block(case.steps, scope)
            for value in (case.raise_value, case.return_value):
                if value is not None:
                    self.use("read", value.names, step.path, scope)

    def loop(self, step: m.ForStep | m.ParallelStep, scope: _Scope) -> None:
        loop = step.loop
        for template in (loop.items, loop.range):
            if template is not None:
                self.use("read", template.names, step.path, scope)
        variables = {loop.value} | ({loop.index} if loop.index else set())
        for name in sorted(variables):
            self.loop_variables.setdefault(name, step.path)
        if isinstance(step, m.ParallelStep):
            self.concurrency_limit(step)
            self.use("shared", set(step.shared), step.path, scope)
            inner = self.scope("parallel", step.path, scope, variables, step.shared)
        else:
            inner = self.scope("for", step.path, scope, variables)
        self.use("declare", variables, step.path, inner)
        self.block(loop.body, inner)

    @staticmethod
    def concurrency_limit(step: m.ParallelStep) -> None:
        limit = step.concurrency_limit
        if limit is None or not limit.is_literal:
            return  # an expression is checked when it is evaluated (executor.py)
        value = limit.raw
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WorkflowSyntaxError(f"{step.path}: concurrency_limit must be a positive integer, got {value!r}")
        if value > MAX_CONCURRENT_BRANCHES:
            raise WorkflowSyntaxError(f"{step.path}: concurrency_limit {value} is above the {MAX_CONCURRENT_BRANCHES} "
                                      "branches and iterations Workflows runs at once")


def validate(workflow: m.Workflow) -> None:
    """Raise WorkflowSyntaxError, naming the step, at the first use that breaks a rule above."""
    walker = _Walker(workflow.params)
    walker.block(workflow.main, walker.main)
    for scope in walker.scopes:  # enclosing scopes come first: they were created first
        visible_above = set() if scope.parent is None else _visible(scope.parent)
        scope.own = scope.writes - visible_above
    for use in walker.uses:
        _check_loop_variable(use, walker.loop_variables)
        _check_local(use, walker.scopes)
        _check_parallel(use)


def _visible(scope: _Scope) -> set[str]:
    return set().union(*(s.own | s.declared for s in scope.chain()))


def _loop_scopes(scope: _Scope) -> Iterator[_Scope]:
    return (s for s in scope.chain() if s.kind in ("for", "parallel"))


def _check_loop_variable(use: _Use, loop_variables: dict[str, str]) -> None:
    if use.name not in loop_variables or use.kind == "shared":
        return
    if use.kind == "declare" and use.scope.kind in ("for", "parallel"):
        outer = next((s for s in _loop_scopes(use.scope.parent) if use.name in s.declared), None)
        if outer is not None:
            raise WorkflowSyntaxError(
                f"{use.path}: loop variable {use.name!r} is already the loop variable of the enclosing loop "
                f"{outer.path}: a name can be reused only by loops that are not nested"
            )
        return
    if not any(use.name in s.declared for s in _loop_scopes(use.scope)):
        raise WorkflowSyntaxError(
            f"{use.path}: {use.name!r} is the loop variable of {loop_variables[use.name]}: Workflows does not "
            "allow a loop variable in assignments or expressions outside its loop"
        )


def _check_local(use: _Use, scopes: list[_Scope]) -> None:
    """A read (or an update) of a variable that only exists inside a scope this use is not in."""
    if use.kind not in ("read", "update", "shared") or use.scope.owner(use.name) is not None:
        return
    if use.kind == "shared":
        raise WorkflowSyntaxError(f"{use.path}: shared variable {use.name!r} must be assigned before the parallel step")
    chain = set(use.scope.chain())
    inner = next((s for s in scopes if s not in chain and (use.name in s.own or use.name in s.declared)), None)
    if inner is not None:
        raise WorkflowSyntaxError(
            f"{use.path}: {use.name!r} is created inside {inner.path} and does not exist outside it {_LOCAL}"
        )


def _check_parallel(use: _Use) -> None:
    """A write, from inside a parallel branch, to a variable of a scope outside the branch."""
    if use.kind in ("write", "update"):
        owner = use.scope.owner(use.name)
    elif use.kind == "declare" and use.scope.kind == "except":
        owner = use.scope.parent.owner(use.name)  # `as: x` over a variable x of an enclosing scope
    else:
        return
    if owner is None:
        return
    for scope in use.scope.chain():
        if scope is owner:
            return
        if scope.kind == "parallel" and use.name not in scope.shared:
            raise WorkflowSyntaxError(
                f"{use.path}: a parallel branch assigns {use.name!r}, a variable of the enclosing scope that is "
                "not listed in the parallel step's shared"
            )
