"""Runs a loaded workflow: one function per step kind, jumps and loop control as exceptions.

Control flow: a step returns its `next` target (or None for the following step). A target the current
list does not hold travels up as `_Jump` until an enclosing list has it (the loader has checked one
does). `continue`, `break`, `end` and `return` travel up the same way to their loop or to the top.
"""

from __future__ import annotations

import copy
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from . import model as m
from . import operators as ops
from .calls import CALLS
from .errors import WorkflowError, WorkflowFailed, WorkflowSyntaxError, describe, fail
from .loader import load_workflow
from .runtime import Frame, Runtime, Scope
from .validate import MAX_CONCURRENT_BRANCHES  # noqa: E402  (one constant for both checks)


class _Jump(Exception):
    def __init__(self, target: str):
        super().__init__(target)
        self.target = target


class _Continue(Exception):
    pass


class _Break(Exception):
    pass


class _End(Exception):
    pass


class _Return(Exception):
    def __init__(self, value: Any):
        super().__init__("return")
        self.value = value


def run_workflow(
    workflow: m.Workflow | str | Path,
    args: Any = None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_event: Callable[[dict], None] | None = None,
    env: dict[str, str] | None = None,
) -> Any:
    """Execute `main` with `args`; return what it returns, or raise WorkflowFailed.

    `clock` (epoch seconds, behind sys.now) and `sleep` (behind sys.sleep and retry backoff) are
    injectable so that tests run instantly; `on_event` receives one dict per step, HTTP call, sleep,
    retry, log line, and the outcome; `env` adds to the built-in sys.get_env variables.
    """
    wf = workflow if isinstance(workflow, m.Workflow) else load_workflow(workflow)
    runtime = Runtime(clock=clock, sleep=sleep, env={**_builtin_env(wf), **(env or {})}, on_event=on_event)
    scope = Scope()
    if wf.params:
        scope.vars[wf.params[0]] = copy.deepcopy(args)
    frame = Frame(scope, runtime)
    execution_id = runtime.env["GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID"]
    runtime.emit({"type": "started", "workflow": wf.source, "execution_id": execution_id})
    try:
        run_block(wf.main, frame)
        result = None
    except _Return as returned:
        result = returned.value
    except _End:
        result = None
    except WorkflowError as err:
        runtime.emit({"type": "failed", "error": err.value})
        raise WorkflowFailed(err.value) from err
    runtime.emit({"type": "succeeded", "result": result})
    return result


def _builtin_env(wf: m.Workflow) -> dict[str, str]:
    """The variables Workflows sets for every execution, with local values."""
    return {
        "GOOGLE_CLOUD_PROJECT_ID": "local-project",
        "GOOGLE_CLOUD_LOCATION": "local",
        "GOOGLE_CLOUD_WORKFLOW_ID": Path(wf.source).stem,
        "GOOGLE_CLOUD_WORKFLOW_REVISION_ID": "local",
        "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": f"local-{uuid.uuid4()}",
    }


def run_block(block: m.Block, frame: Frame) -> None:
    """Run a steps list from its first step, following jumps that land in it."""
    i = 0
    while i < len(block.steps):
        try:
            target = run_step(block.steps[i], frame)
        except _Jump as jump:
            if jump.target not in block.index:
                raise
            target = jump.target
        if target is None:
            i += 1
        elif target in block.index:
            i = block.index[target]
        else:
            raise _signal(target)


def _signal(target: str) -> Exception:
    return {m.END: _End, m.CONTINUE: _Continue, m.BREAK: _Break}.get(target, lambda: _Jump(target))()


def run_step(step: m.Step, frame: Frame) -> str | None:
    """Run one step; its `next` target, or None to go on with the following step."""
    frame.runtime.count_step()
    frame.emit("step", step=step.name, path=step.path, kind=type(step).__name__.removesuffix("Step").lower())
    return _RUNNERS[type(step)](step, frame)


def _store(target: m.Target, value: Any, frame: Frame, path: str) -> None:
    # Workflows values are values: a later change to one variable never shows through another.
    value = copy.deepcopy(value)
    if not target.keys:
        frame.scope.assign(target.root, value, path)
        return
    keys = [key if isinstance(key, str) else key.evaluate(frame) for key in target.keys]
    container = frame.scope.for_update(target.root, path)
    for key in keys[:-1]:
        container = ops.get_key(container, key)
    ops.set_key(container, keys[-1], value)


def _assign_items(items: list, frame: Frame, path: str) -> None:
    with frame.write_lock():
        for target, value in items:
            _store(target, value.evaluate(frame), frame, path)


def _assign(step: m.AssignStep, frame: Frame) -> str | None:
    _assign_items(step.items, frame, step.path)
    return step.next


def _call(step: m.CallStep, frame: Frame) -> str | None:
    args = {name: template.evaluate(frame) for name, template in step.args.items()}
    result = CALLS[step.target](args, frame)
    if step.result:
        with frame.write_lock():
            _store(m.Target(step.result), result, frame, step.path)
    return step.next


def _switch(step: m.SwitchStep, frame: Frame) -> str | None:
    for case in step.cases:
        if ops.boolean(case.condition.evaluate(frame), "a switch condition"):
            return _run_case(case, step, frame)
    return step.next


def _run_case(case: m.Case, step: m.SwitchStep, frame: Frame) -> str | None:
    if case.assign:
        _assign_items(case.assign, frame, step.path)
    if case.steps:
        run_block(case.steps, frame)
    if case.raise_value is not None:
        raise WorkflowError(copy.deepcopy(case.raise_value.evaluate(frame)))
    if case.returns:
        raise _Return(copy.deepcopy(case.return_value.evaluate(frame)) if case.return_value else None)
    return case.next or step.next


def _loop_values(loop: m.ForLoop, frame: Frame) -> list:
    if loop.items is not None:
        values = loop.items.evaluate(frame)
        if not isinstance(values, list):
            raise fail("TypeError", f"for in needs a list, not {ops.type_name(values)}")
        return values
    bounds = loop.range.evaluate(frame)
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(ops.is_number(b) for b in bounds)):
        raise fail("TypeError", f"for range needs [start, end] numbers, got {bounds!r}")
    start, end = bounds
    count = max(0, int(end - start) + 1)  # both ends included
    return [start + i for i in range(count)]


def _bind(loop: m.ForLoop, scope: Scope, index: int, value: Any) -> Scope:
    scope.vars[loop.value] = copy.deepcopy(value)
    if loop.index:
        scope.vars[loop.index] = index
    return scope


def _for(step: m.ForStep, frame: Frame) -> str | None:
    for index, value in enumerate(_loop_values(step.loop, frame)):
        scope = _bind(step.loop, Scope(parent=frame.scope), index, value)
        try:
            run_block(step.loop.body, frame.child(scope))
        except _Continue:
            continue
        except _Break:
            break
    return step.next


def _concurrency(step: m.ParallelStep, frame: Frame) -> int:
    if step.concurrency_limit is None:
        return MAX_CONCURRENT_BRANCHES
    limit = step.concurrency_limit.evaluate(frame)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise fail("ValueError", f"concurrency_limit must be a positive integer, got {limit!r}")
    if limit > MAX_CONCURRENT_BRANCHES:
        raise fail("ValueError", f"concurrency_limit {limit} is above the {MAX_CONCURRENT_BRANCHES} branches and "
                                 "iterations Workflows runs at once")
    return limit


def _parallel(step: m.ParallelStep, frame: Frame) -> str | None:
    for name in step.shared:
        try:
            frame.scope.lookup(name)
        except WorkflowError:
            raise WorkflowSyntaxError(
                f"{step.path}: shared variable {name!r} must be assigned before the parallel step"
            ) from None
    values = _loop_values(step.loop, frame)
    if not values:
        return step.next
    shared = frozenset(step.shared)

    def branch(index: int, value: Any) -> None:
        scope = _bind(step.loop, Scope(parent=frame.scope, shared=shared), index, value)
        run_block(step.loop.body, frame.child(scope, branch=f"{step.name}[{index}]"))

    with ThreadPoolExecutor(max_workers=_concurrency(step, frame), thread_name_prefix=step.name) as pool:
        futures = [pool.submit(branch, i, v) for i, v in enumerate(values)]
    _raise_branch_errors(step, [f.exception() for f in futures])
    return step.next


def _raise_branch_errors(step: m.ParallelStep, outcomes: list[BaseException | None]) -> None:
    """continueAll: every branch ran; unhandled Workflows errors come back as one UnhandledBranchError."""
    for outcome in outcomes:
        if outcome is not None and not isinstance(outcome, WorkflowError):
            raise outcome  # an executor-level failure (e.g. WorkflowSyntaxError), not a program error
    errors = [{"id": str(i), "error": o.value} for i, o in enumerate(outcomes) if o is not None]
    if errors:
        raise fail(
            "UnhandledBranchError",
            f"UnhandledBranchError: {len(errors)} of {len(outcomes)} iterations of {step.name} raised: "
            + "; ".join(describe(e["error"]) for e in errors[:3]),
            branches=errors,
            truncated=False,
        )


def _try(step: m.TryStep, frame: Frame) -> str | None:
    delays = step.retry.delays() if step.retry else iter(())
    attempt = 0
    while True:
        try:
            run_block(step.body, frame)
            return step.next
        except WorkflowError as err:
            delay = next(delays, None) if step.retry and step.retry.predicate(err.value) else None
            if delay is not None:
                attempt += 1
                frame.emit("retry", step=step.name, path=step.path, attempt=attempt, delay=delay,
                           error=describe(err.value))
                frame.emit("sleep", seconds=delay, reason="retry")
                frame.runtime.sleep(delay)
                continue
            if step.except_body is None:
                raise
            scope = Scope(parent=frame.scope)
            if step.except_as:
                scope.vars[step.except_as] = err.value
            run_block(step.except_body, frame.child(scope))
            return step.next


def _raise(step: m.RaiseStep, frame: Frame) -> str | None:
    raise WorkflowError(copy.deepcopy(step.value.evaluate(frame)))


def _return(step: m.ReturnStep, frame: Frame) -> str | None:
    raise _Return(copy.deepcopy(step.value.evaluate(frame)) if step.value else None)


def _steps(step: m.StepsStep, frame: Frame) -> str | None:
    run_block(step.body, frame)
    return step.next


def _next_only(step: m.NextStep, frame: Frame) -> str | None:
    return step.next


_RUNNERS = {
    m.AssignStep: _assign,
    m.CallStep: _call,
    m.SwitchStep: _switch,
    m.ForStep: _for,
    m.ParallelStep: _parallel,
    m.TryStep: _try,
    m.RaiseStep: _raise,
    m.ReturnStep: _return,
    m.StepsStep: _steps,
    m.NextStep: _next_only,
}
