"""YAML -> model, refusing at load time everything outside the supported subset.

Supported: `main` with `params` and `steps`; steps of kind assign, call (http.get, http.post,
sys.sleep, sys.log), switch, for, parallel (a `for` with `shared` and `concurrency_limit`), try with
retry/except, raise, return, nested steps, and `next` (a step name, end, continue, break). Jumps are
checked here: a target must be a step of the same list or of an enclosing list, never across a for or
parallel body; break/continue only inside a for; return and `next: end` never inside a parallel branch.
The rules that need the whole definition (variable scopes, shared variables, unique step names,
limits) are checked by validate.py once the model is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from . import model as m
from .calls import MAX_HTTP_TIMEOUT_SECONDS
from .errors import WorkflowSyntaxError
from .expressions import compile_expression
from .retry import parse_policy
from .templates import Template
from .validate import validate

# "Variable names must start with a letter or underscore, and must consist of only letters, digits,
# and underscores" (https://cloud.google.com/workflows/docs/reference/syntax/variables).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_STEP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
_KINDS = ("assign", "call", "switch", "for", "parallel", "try", "raise", "return", "steps")
# Keys each step kind may carry besides its own.
_EXTRA_KEYS = {
    "assign": {"next"},
    "call": {"args", "result", "next"},
    "switch": {"next"},
    "for": {"next"},
    "parallel": {"next"},
    "try": {"retry", "except", "next"},
    "raise": set(),
    "return": set(),
    "steps": {"next"},
}
_CALL_ARGS = {
    "http.get": ({"url"}, {"url", "headers", "query", "auth", "timeout"}),
    "http.post": ({"url"}, {"url", "headers", "query", "auth", "timeout", "body"}),
    "sys.sleep": ({"seconds"}, {"seconds"}),
    "sys.log": (set(), {"text", "json", "data", "severity"}),
}


@dataclass(frozen=True)
class _Context:
    """Where the loader is: the path for messages and what a jump or break may reach from here."""

    path: str
    visible: frozenset[str]
    loop: str | None = None  # innermost enclosing loop: "for" or "parallel"
    in_branch: bool = False

    def error(self, message: str) -> WorkflowSyntaxError:
        return WorkflowSyntaxError(f"{self.path}: {message}")


def load_workflow(source: str | Path) -> m.Workflow:
    """Load a definition from a file path, or from YAML text (a string with a newline in it)."""
    if isinstance(source, Path) or "\n" not in source:
        path = Path(source)
        return parse_workflow(path.read_text(encoding="utf-8"), str(path))
    return parse_workflow(source)


def parse_workflow(text: str, source: str = "<string>") -> m.Workflow:
    """Parse YAML text into a Workflow, or raise WorkflowSyntaxError naming the construct and step."""
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when built
    except yaml.YAMLError as exc:
        raise WorkflowSyntaxError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or "main" not in raw:
        raise WorkflowSyntaxError(f"{source}: the definition must be a map with a 'main' workflow")
    others = sorted(set(raw) - {"main"})
    if others:
        raise WorkflowSyntaxError(f"{source}: subworkflows are not supported by this executor: {others}")
    main = raw["main"]
    if not isinstance(main, dict) or set(main) - {"params", "steps"} or "steps" not in main:
        raise WorkflowSyntaxError(f"{source}: main must be a map with 'steps' and optional 'params'")
    params = main.get("params") or []
    if not isinstance(params, list) or len(params) > 1 or not all(_is_name(p) for p in params):
        raise WorkflowSyntaxError(f"{source}: main params must be a list of at most one name, got {params!r}")
    block = _block(main["steps"], _Context("main", frozenset()), boundary=True)
    workflow = m.Workflow(params=list(params), main=block, source=source, raw=raw)
    validate(workflow)  # the rules that need the whole definition (scopes, names, limits)
    return workflow


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(_NAME.match(value))


def _block(raw: Any, ctx: _Context, boundary: bool) -> m.Block:
    """A steps list. A boundary block (main, a for or parallel body) hides the steps around it."""
    if not isinstance(raw, list) or not raw:
        raise ctx.error("steps must be a non-empty list")
    names = [_step_name(item, ctx) for item in raw]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ctx.error(f"duplicate step names {duplicates}")
    visible = frozenset(names) | (frozenset() if boundary else ctx.visible)
    steps = [
        _step(name, item[name], replace(ctx, path=f"{ctx.path} > {name}", visible=visible))
        for name, item in zip(names, raw, strict=True)
    ]
    return m.Block(steps=steps, index={s.name: i for i, s in enumerate(steps)})


def _step_name(item: Any, ctx: _Context) -> str:
    if not isinstance(item, dict) or len(item) != 1:
        raise ctx.error(f"each step must be a map with exactly one key (its name), got {item!r}")
    name = next(iter(item))
    if not isinstance(name, str) or not _STEP_NAME.match(name) or name in (m.END, m.CONTINUE, m.BREAK):
        raise ctx.error(f"invalid step name {name!r}")
    if not isinstance(item[name], dict):
        raise ctx.error(f"step {name!r} must be a map")
    return name


def _step(name: str, body: dict, ctx: _Context) -> m.Step:
    kinds = [k for k in _KINDS if k in body]
    unknown = sorted(set(body) - set(_KINDS) - {"args", "result", "next", "retry", "except"})
    if unknown:
        raise ctx.error(f"unknown step key(s) {unknown} (supported step kinds: {', '.join(_KINDS)})")
    if len(kinds) > 1:
        raise ctx.error(f"a step has one kind, found {kinds}")
    if not kinds:
        if set(body) != {"next"}:
            raise ctx.error(f"step has no kind (one of {', '.join(_KINDS)})")
        return m.NextStep(name=name, path=ctx.path, next=_next(body["next"], ctx))
    kind = kinds[0]
    extra = sorted(set(body) - {kind} - _EXTRA_KEYS[kind])
    if extra:
        raise ctx.error(f"'{kind}' step cannot have {extra}")
    nxt = _next(body["next"], ctx) if "next" in body else None
    return _BUILDERS[kind](name, body, ctx, nxt)


def _next(target: Any, ctx: _Context) -> str:
    if not isinstance(target, str):
        raise ctx.error(f"next must be a step name, got {target!r}")
    if target in (m.CONTINUE, m.BREAK):
        if ctx.loop != "for":
            where = "a parallel for (not supported here)" if ctx.loop else "a for loop"
            raise ctx.error(f"next: {target} outside {where}")
    elif target == m.END:
        if ctx.in_branch:
            raise ctx.error("next: end inside a parallel branch is not supported")
    elif target not in ctx.visible:
        raise ctx.error(f"next: {target!r} is not a step of this list or an enclosing one "
                        "(jumps cannot enter or leave a for/parallel body)")
    return target


def _assign_items(raw: Any, ctx: _Context) -> list[tuple[m.Target, Template]]:
    if not isinstance(raw, list) or not raw:
        raise ctx.error("assign must be a non-empty list of single-key maps")
    items = []
    for item in raw:
        if not isinstance(item, dict) or len(item) != 1:
            raise ctx.error(f"assign items are single-key maps, got {item!r}")
        (target, value), = item.items()
        items.append((parse_target(target, ctx), Template(value, ctx.path)))
    return items


def parse_target(text: Any, ctx: _Context) -> m.Target:
    """`name`, `name.key`, `name["key"]`, `name[expr]`, chained."""
    if not isinstance(text, str):
        raise ctx.error(f"invalid assignment target {text!r}")
    root = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
    if not root:
        raise ctx.error(f"invalid assignment target {text!r}")
    keys: list = []
    pos = root.end()
    while pos < len(text):
        if text[pos] == ".":
            key = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[pos + 1 :])
            if not key:
                raise ctx.error(f"invalid assignment target {text!r}")
            keys.append(key.group())
            pos += 1 + key.end()
        elif text[pos] == "[":
            end = _closing_bracket(text, pos, ctx)
            keys.append(compile_expression("${" + text[pos + 1 : end] + "}", ctx.path))
            pos = end + 1
        else:
            raise ctx.error(f"invalid assignment target {text!r}")
    return m.Target(root=root.group(), keys=tuple(keys), text=text)


def _closing_bracket(text: str, start: int, ctx: _Context) -> int:
    depth, quote, i = 0, None, start
    while i < len(text):
        char = text[i]
        if quote:
            i += 2 if char == "\\" else 1
            quote = None if char == quote else quote
            continue
        if char in "\"'":
            quote = char
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0:
            return i
        i += 1
    raise ctx.error(f"unbalanced [ in assignment target {text!r}")


def _build_assign(name, body, ctx, nxt):
    return m.AssignStep(name=name, path=ctx.path, next=nxt, items=_assign_items(body["assign"], ctx))


def _build_call(name, body, ctx, nxt):
    target = body["call"]
    if target not in _CALL_ARGS:
        raise ctx.error(f"call target {target!r} is not supported (supported: {', '.join(sorted(_CALL_ARGS))})")
    args = body.get("args") or {}
    if not isinstance(args, dict):
        raise ctx.error(f"{target} args must be a map")
    required, allowed = _CALL_ARGS[target]
    if not required <= set(args) or set(args) - allowed:
        raise ctx.error(f"{target} takes args {sorted(allowed)} (required {sorted(required)}), got {sorted(args)}")
    if target == "sys.log" and len(set(args) & {"text", "json", "data"}) != 1:
        raise ctx.error("sys.log takes exactly one of text, json, data")
    _check_http_args(target, args, ctx)
    result = body.get("result")
    if result is not None and not _is_name(result):
        raise ctx.error(f"result must be a variable name, got {result!r}")
    compiled = {k: Template(v, ctx.path) for k, v in args.items()}
    return m.CallStep(name=name, path=ctx.path, next=nxt, target=target, args=compiled, result=result)


def _check_http_args(target: str, args: dict, ctx: _Context) -> None:
    if not target.startswith("http."):
        return
    auth = args.get("auth")
    oidc = isinstance(auth, dict) and auth.get("type") == "OIDC" and set(auth) <= {"type", "audience"}
    if auth is not None and not oidc:
        raise ctx.error(f"auth {auth!r} is not supported: only {{type: OIDC}} (optionally with audience)")
    timeout = args.get("timeout")
    if isinstance(timeout, (int, float)) and not 0 < timeout <= MAX_HTTP_TIMEOUT_SECONDS:
        raise ctx.error(f"timeout {timeout} outside (0, {MAX_HTTP_TIMEOUT_SECONDS}] seconds")


def _build_switch(name, body, ctx, nxt):
    raw = body["switch"]
    if not isinstance(raw, list) or not raw:
        raise ctx.error("switch must be a non-empty list of conditions")
    return m.SwitchStep(name=name, path=ctx.path, next=nxt, cases=[_case(c, ctx) for c in raw])


def _case(raw: Any, ctx: _Context) -> m.Case:
    allowed = {"condition", "next", "assign", "steps", "raise", "return"}
    if not isinstance(raw, dict) or "condition" not in raw or set(raw) - allowed:
        others = sorted(allowed - {"condition"})
        raise ctx.error(f"switch conditions are maps with 'condition' and some of {others}, got {raw!r}")
    if ("raise" in raw or "return" in raw) and ("next" in raw or ("raise" in raw and "return" in raw)):
        raise ctx.error("a switch condition with raise/return cannot also have next, or both")
    return m.Case(
        condition=Template(raw["condition"], ctx.path),
        next=_next(raw["next"], ctx) if "next" in raw else None,
        assign=_assign_items(raw["assign"], ctx) if "assign" in raw else None,
        steps=_block(raw["steps"], ctx, boundary=False) if "steps" in raw else None,
        raise_value=Template(raw["raise"], ctx.path) if "raise" in raw else None,
        return_value=_returned(raw, ctx) if "return" in raw else None,
        returns="return" in raw,
    )


def _returned(raw: dict, ctx: _Context) -> Template | None:
    if ctx.in_branch:
        raise ctx.error("return inside a parallel branch is not supported")
    return Template(raw["return"], ctx.path) if raw["return"] is not None else None


def _loop(raw: Any, ctx: _Context, kind: str) -> m.ForLoop:
    allowed = {"value", "index", "in", "range", "steps"}
    if not isinstance(raw, dict) or set(raw) - allowed:
        raise ctx.error(f"for takes {sorted(allowed)}, got {sorted(raw) if isinstance(raw, dict) else raw!r}")
    if not _is_name(raw.get("value")) or ("index" in raw and not _is_name(raw["index"])):
        raise ctx.error("for needs value: <name> (and index: <name>, if any)")
    if ("in" in raw) == ("range" in raw):
        raise ctx.error("for needs exactly one of in, range")
    if "index" in raw and "range" in raw:
        raise ctx.error("for: index is only supported with in")
    body_ctx = replace(ctx, loop=kind, in_branch=ctx.in_branch or kind == "parallel")
    return m.ForLoop(
        value=raw["value"],
        index=raw.get("index"),
        items=Template(raw["in"], ctx.path) if "in" in raw else None,
        range=Template(raw["range"], ctx.path) if "range" in raw else None,
        body=_block(raw.get("steps"), body_ctx, boundary=True),
    )


def _build_for(name, body, ctx, nxt):
    return m.ForStep(name=name, path=ctx.path, next=nxt, loop=_loop(body["for"], ctx, "for"))


def _build_parallel(name, body, ctx, nxt):
    raw = body["parallel"]
    if isinstance(raw, dict) and "branches" in raw:
        raise ctx.error("parallel branches are not supported by this executor (only a parallel for)")
    allowed = {"for", "shared", "concurrency_limit", "exception_policy"}
    if not isinstance(raw, dict) or "for" not in raw or set(raw) - allowed:
        raise ctx.error(f"parallel takes a for and {sorted(allowed - {'for'})}, got {raw!r}")
    if raw.get("exception_policy", "continueAll") != "continueAll":
        raise ctx.error("exception_policy: only continueAll exists")
    shared = raw.get("shared") or []
    if not isinstance(shared, list) or not all(_is_name(s) for s in shared):
        raise ctx.error(f"shared must be a list of variable names, got {shared!r}")
    limit = Template(raw["concurrency_limit"], ctx.path) if "concurrency_limit" in raw else None
    loop = _loop(raw["for"], ctx, "parallel")
    return m.ParallelStep(name=name, path=ctx.path, next=nxt, loop=loop, shared=tuple(shared),
                          concurrency_limit=limit)


def _build_try(name, body, ctx, nxt):
    raw = body["try"]
    if not isinstance(raw, dict):
        raise ctx.error("try must be a map: steps, or the body of one step")
    if "steps" in raw and len(raw) == 1:
        block = _block(raw["steps"], ctx, boundary=False)
    else:  # one step without a name: it takes the try step's name
        block = m.Block(steps=[_step(name, raw, ctx)], index={})
    except_as, except_body = _except(body.get("except"), ctx)
    retry = parse_policy(body["retry"], ctx.error) if "retry" in body else None
    if retry is None and except_body is None:
        raise ctx.error("try needs retry, except, or both")
    return m.TryStep(name=name, path=ctx.path, next=nxt, body=block, retry=retry, except_as=except_as,
                     except_body=except_body)


def _except(raw: Any, ctx: _Context) -> tuple[str | None, m.Block | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict) or "steps" not in raw or set(raw) - {"as", "steps"}:
        raise ctx.error("except takes steps and optional as")
    if "as" in raw and not _is_name(raw["as"]):
        raise ctx.error(f"except as must be a variable name, got {raw['as']!r}")
    return raw.get("as"), _block(raw["steps"], ctx, boundary=False)


def _build_raise(name, body, ctx, nxt):
    return m.RaiseStep(name=name, path=ctx.path, value=Template(body["raise"], ctx.path))


def _build_return(name, body, ctx, nxt):
    return m.ReturnStep(name=name, path=ctx.path, value=_returned(body, ctx))


def _build_steps(name, body, ctx, nxt):
    return m.StepsStep(name=name, path=ctx.path, next=nxt, body=_block(body["steps"], ctx, boundary=False))


_BUILDERS = {
    "assign": _build_assign,
    "call": _build_call,
    "switch": _build_switch,
    "for": _build_for,
    "parallel": _build_parallel,
    "try": _build_try,
    "raise": _build_raise,
    "return": _build_return,
    "steps": _build_steps,
}
