"""Rules the real Cloud Workflows enforces, enforced by the local executor too.

Each test hands the loader a small definition that breaks one documented rule and asserts the exact
refusal: WorkflowSyntaxError at load time, naming the step. Where a rule can only be decided while
running (a value's type), the test asserts the catchable Workflows exception the real service raises.
The references each rule comes from are cited in infra/local/workflows/validate.py and stdlib.py.
"""

from __future__ import annotations

import re

import pytest
import yaml

from infra.local.layout import REPO_ROOT
from infra.local.workflows import WorkflowSyntaxError, load_workflow, parse_workflow, run_workflow

PASS1 = REPO_ROOT / "infra" / "workflows" / "pass1.yaml"


def program(steps: list, params: list[str] | None = None):
    """A `main` workflow from Python data, through real YAML text."""
    return parse_workflow(yaml.safe_dump({"main": {"params": params or ["a"], "steps": steps}}, sort_keys=False))


def refused(steps: list) -> str:
    """The loader's refusal message for `steps`."""
    with pytest.raises(WorkflowSyntaxError) as error:
        program(steps)
    return str(error.value)


def run(steps: list, args=None, env=None):
    return run_workflow(program(steps), args, env=env, sleep=lambda s: None)


def loop(name: str, value: str, steps: list, items=None, **extra) -> dict:
    return {name: {"for": {"value": value, "in": items if items is not None else [1, 2], "steps": steps, **extra}}}


def parallel(name: str, value: str, steps: list, shared: list | None = None, **extra) -> dict:
    body = {"for": {"value": value, "in": [1, 2], "steps": steps}, **extra}
    if shared is not None:
        body["shared"] = shared
    return {name: {"parallel": body}}


def assign(name: str, **values) -> dict:
    return {name: {"assign": [{k: v} for k, v in values.items()]}}


# ---- the real definition -------------------------------------------------------------------------


def test_pass1_loads_under_every_rule():
    """Two faults pass1.yaml once had: sys.get_env with a null default, `unit` assigned outside the loop
    that uses it as loop variable; both are refused now, so the file must be free of them."""
    workflow = load_workflow(PASS1)
    assert workflow.params == ["args"]


def test_pass1_passes_only_string_defaults_to_sys_get_env():
    text = PASS1.read_text(encoding="utf-8")
    calls = re.findall(r"sys\.get_env\(([^)]*)\)", text)
    assert calls, "pass1.yaml reads its function URLs with sys.get_env"
    for arguments in calls:
        assert all(a.strip().startswith('"') for a in arguments.split(",")), arguments


# ---- for loops -----------------------------------------------------------------------------------


def test_a_loop_variable_assigned_before_its_loop_is_refused():
    message = refused([assign("before", item=1), loop("each", "item", [assign("use", x="${item}")])])
    assert message == (
        "main > before: 'item' is the loop variable of main > each: Workflows does not allow a loop "
        "variable in assignments or expressions outside its loop"
    )


def test_a_loop_variable_read_after_its_loop_is_refused():
    message = refused([loop("each", "item", [assign("use", x="${item}")]), {"after": {"return": "${item}"}}])
    assert message.startswith("main > after: 'item' is the loop variable of main > each:")


def test_a_loop_variable_assigned_inside_another_loop_is_refused():
    """The second fault pass1.yaml once had, in small: a unit built in one loop, then the loop
    variable of the next."""
    steps = [
        assign("init", units=[]),
        loop("split", "output", [assign("add", unit="${output}", units="${list.concat(units, unit)}")]),
        parallel("fan", "unit", [assign("work", seen="${unit}")]),
    ]
    assert refused(steps).startswith("main > split > add: 'unit' is the loop variable of main > fan:")


def test_an_index_variable_follows_the_same_rule():
    steps = [loop("each", "v", [assign("use", x="${i}")], index="i"), {"after": {"return": "${i}"}}]
    assert refused(steps).startswith("main > after: 'i' is the loop variable of main > each:")


def test_nested_loops_cannot_share_a_loop_variable():
    steps = [loop("outer", "v", [loop("inner", "v", [assign("use", x="${v}")])])]
    assert refused(steps) == (
        "main > outer > inner: loop variable 'v' is already the loop variable of the enclosing loop "
        "main > outer: a name can be reused only by loops that are not nested"
    )


def test_loops_one_after_the_other_may_reuse_a_loop_variable():
    steps = [
        assign("init", total=0),
        loop("first", "v", [assign("add1", total="${total + v}")]),
        loop("second", "v", [assign("add2", total="${total + v}")]),
        {"done": {"return": "${total}"}},
    ]
    assert run(steps) == 6


def test_a_variable_created_inside_a_loop_does_not_exist_after_it():
    steps = [loop("each", "v", [assign("inner", last="${v}")]), {"after": {"return": "${last}"}}]
    assert refused(steps) == (
        "main > after: 'last' is created inside main > each and does not exist outside it "
        "(variables created in a for loop, a parallel branch or an except block are local to it)"
    )


def test_a_loop_may_update_a_variable_of_the_enclosing_scope():
    steps = [assign("init", last=0), loop("each", "v", [assign("inner", last="${v}")]),
             {"after": {"return": "${last}"}}]
    assert run(steps) == 2


def test_the_except_variable_does_not_exist_after_the_except_block():
    steps = [
        {"t": {"try": {"raise": "boom"}, "except": {"as": "err", "steps": [assign("seen", note="caught")]}}},
        {"after": {"return": "${err}"}},
    ]
    assert refused(steps).startswith("main > after: 'err' is created inside main > t and does not exist outside it")


# ---- parallel steps ------------------------------------------------------------------------------


def test_a_branch_assigning_a_parent_variable_not_in_shared_is_refused_at_load():
    steps = [assign("init", total=0), parallel("fan", "n", [assign("add", total="${total + n}")])]
    assert refused(steps) == (
        "main > fan > add: a parallel branch assigns 'total', a variable of the enclosing scope that is "
        "not listed in the parallel step's shared"
    )


def test_a_branch_updating_a_key_of_a_parent_map_not_in_shared_is_refused():
    steps = [assign("init", counts={}), parallel("fan", "n", [{"add": {"assign": [{"counts.n": "${n}"}]}}])]
    assert refused(steps).startswith("main > fan > add: a parallel branch assigns 'counts'")


def test_a_branch_storing_a_call_result_in_a_parent_variable_is_refused():
    steps = [assign("init", answer=None),
             parallel("fan", "n", [{"get": {"call": "http.get", "args": {"url": "http://x"}, "result": "answer"}}])]
    assert refused(steps).startswith("main > fan > get: a parallel branch assigns 'answer'")


def test_a_branch_catching_into_a_parent_variable_is_refused():
    steps = [assign("init", problem=None),
             parallel("fan", "n", [{"t": {"try": {"raise": "x"}, "except": {"as": "problem", "steps": [
                 assign("log", note="${problem}")]}}}])]
    assert refused(steps).startswith("main > fan > t: a parallel branch assigns 'problem'")


def test_a_branch_may_write_shared_and_its_own_variables():
    steps = [
        assign("init", total=0),
        parallel("fan", "n", [assign("mine", doubled="${n * 2}"), assign("add", total="${total + doubled}")],
                 shared=["total"]),
        {"done": {"return": "${total}"}},
    ]
    assert run(steps) == 6


def test_a_shared_variable_must_exist_before_the_parallel_step():
    steps = [parallel("fan", "n", [assign("add", total="${n}")], shared=["total"])]
    assert refused(steps) == "main > fan: shared variable 'total' must be assigned before the parallel step"


@pytest.mark.parametrize("limit", [0, -1, 2.5, "4", True])
def test_a_literal_concurrency_limit_must_be_a_positive_integer(limit):
    steps = [parallel("fan", "n", [assign("x", y="${n}")], concurrency_limit=limit)]
    assert refused(steps) == f"main > fan: concurrency_limit must be a positive integer, got {limit!r}"


def test_a_literal_concurrency_limit_above_what_workflows_runs_at_once_is_refused():
    steps = [parallel("fan", "n", [assign("x", y="${n}")], concurrency_limit=21)]
    assert refused(steps) == ("main > fan: concurrency_limit 21 is above the 20 branches and iterations "
                              "Workflows runs at once")
    assert run([parallel("fan", "n", [assign("x", y="${n}")], concurrency_limit=20), {"done": {"return": 1}}]) == 1


# ---- variable names ------------------------------------------------------------------------------

BAD_NAMES = [
    ([{"s": {"assign": [{"run-id": 1}]}}], "main > s: invalid assignment target 'run-id'"),
    ([{"s": {"assign": [{"2nd": 1}]}}], "main > s: invalid assignment target '2nd'"),
    ([{"s": {"call": "sys.log", "args": {"text": "x"}, "result": "log line"}}],
     "main > s: result must be a variable name, got 'log line'"),
    ([loop("s", "each-item", [assign("x", y=1)])], "main > s: for needs value: <name> (and index: <name>, if any)"),
    ([{"s": {"try": {"raise": "x"}, "except": {"as": "9e", "steps": [assign("x", y=1)]}}}],
     "main > s: except as must be a variable name, got '9e'"),
]


@pytest.mark.parametrize("steps, message", BAD_NAMES)
def test_variable_names_are_letters_digits_and_underscores_not_starting_with_a_digit(steps, message):
    assert refused(steps) == message


# ---- steps and switch ----------------------------------------------------------------------------


def test_step_names_are_unique_in_the_whole_workflow():
    steps = [assign("same", x=1), {"block": {"steps": [assign("same", y=2)]}}]
    assert refused(steps) == (
        "main > block > same: step name 'same' is already used by main > same: step names must be unique "
        "in a workflow"
    )


def test_a_switch_has_at_most_fifty_conditions():
    cases = [{"condition": f"${{a == {i}}}", "next": "end"} for i in range(51)]
    assert refused([{"pick": {"switch": cases}}]) == "main > pick: a switch has at most 50 conditions, got 51"


def test_fifty_conditions_are_allowed():
    cases = [{"condition": f"${{a == {i}}}", "return": i} for i in range(50)]
    assert run([{"pick": {"switch": cases}}], 49) == 49


@pytest.mark.parametrize("timeout", [1801, 0])
def test_an_http_timeout_is_at_most_1800_seconds(timeout):
    steps = [{"s": {"call": "http.post", "args": {"url": "http://x", "timeout": timeout}}}]
    assert refused(steps) == f"main > s: timeout {timeout} outside (0, 1800] seconds"


def test_an_http_timeout_of_1800_seconds_is_allowed():
    assert program([{"s": {"call": "http.post", "args": {"url": "http://x", "timeout": 1800}}}])


# ---- standard library argument types -------------------------------------------------------------

LITERAL_TYPE_ERRORS = [
    ('sys.get_env("URL", null)', "sys.get_env() argument default must be a string, not null"),
    ('sys.get_env(1)', "sys.get_env() argument name must be a string, not integer"),
    ('map.get(a, 1)', "map.get() argument keys must be a string or a list, not integer"),
    ('list.concat("a", 1)', "list.concat() argument objs must be a list, not string"),
    ('math.min("1", 2)', "math.min() argument x must be an integer or a double, not string"),
    ('math.max(1, null)', "math.max() argument y must be an integer or a double, not null"),
    ('text.substring(1, 0, 1)', "text.substring() argument source must be a string, not integer"),
    ('text.substring("abc", "0", 1)', "text.substring() argument start must be an integer, not string"),
    ('time.format("now")', "time.format() argument seconds must be an integer or a double, not string"),
    ('time.format(0, 1)', "time.format() argument timezone must be a string, not integer"),
    ('len(-1)', "len() argument value must be a string, a list or a map, not integer"),
    ('keys([])', "keys() argument map must be a map, not list"),
]


@pytest.mark.parametrize("expression, message", LITERAL_TYPE_ERRORS)
def test_a_literal_argument_of_the_wrong_type_is_refused_at_load(expression, message):
    assert refused([{"r": {"return": "${" + expression + "}"}}]) == (
        f"main > r: expression ${{{expression}}}: {message} (Workflows raises this TypeError on every "
        "evaluation)"
    )


RUNTIME_TYPE_ERRORS = [
    ('sys.get_env("URL", a.none)', "sys.get_env() argument default must be a string, not null"),
    ("sys.get_env(a.number)", "sys.get_env() argument name must be a string, not integer"),
    ('map.get(a.map, a.number)', "map.get() argument keys must be a string or a list, not integer"),
    ('map.get(a.map, [a.number])', "map.get() keys must be strings, not integer"),
    ("list.concat(a.map, 1)", "list.concat() argument objs must be a list, not map"),
    ("math.min(a.text, 2)", "math.min() argument x must be an integer or a double, not string"),
    ("time.format(a.text)", "time.format() argument seconds must be an integer or a double, not string"),
]


@pytest.mark.parametrize("expression, message", RUNTIME_TYPE_ERRORS)
def test_a_runtime_argument_of_the_wrong_type_raises_a_catchable_type_error(expression, message):
    args = {"none": None, "number": 7, "map": {"k": 1}, "text": "x"}
    steps = [{"t": {"try": {"return": "${" + expression + "}"},
                    "except": {"as": "err", "steps": [{"caught": {"return": "${err}"}}]}}}]
    assert run(steps, args) == {"tags": ["TypeError"], "message": message}


def test_sys_get_env_returns_a_string_default_for_an_unset_variable():
    assert run([{"r": {"return": '${sys.get_env("NOT_SET_HERE", "")}'}}]) == ""


def test_map_get_on_something_that_is_not_a_map_is_null():
    args = {"list": [1], "text": "x", "map": {"k": {"deep": 1}}}
    steps = [{"r": {"return": ['${map.get(a.list, "k")}', '${map.get(a.text, "k")}',
                               '${map.get(a.map, ["k", "deep", "deeper"])}']}}]
    assert run(steps, args) == [None, None, None]


def test_math_min_and_max_give_a_double_unless_both_are_integers():
    result = run([{"r": {"return": ["${math.min(3, 4.0)}", "${math.max(4, 3.0)}", "${math.min(3, 4)}"]}}])
    assert result == [3.0, 4.0, 3]
    assert [type(v) for v in result] == [float, float, int]


def test_time_format_gives_microseconds_and_reads_an_empty_timezone_as_utc():
    assert run([{"r": {"return": ['${time.format(1720788633)}', '${time.format(1720788633, "")}',
                                  '${time.format(1720788633, "Europe/Paris")}']}}]) == [
        "2024-07-12T12:50:33.000000Z", "2024-07-12T12:50:33.000000Z", "2024-07-12T14:50:33.000000+02:00"]
