"""Rules the real Cloud Workflows enforces, enforced by the local executor too (issue 11).

Each test hands the loader a small definition that breaks one documented rule and asserts the exact
refusal: WorkflowSyntaxError at load time, naming the step. Where a rule can only be decided while
running (a value's type), the test asserts the catchable Workflows exception the real service raises.
The references each rule comes from are cited in infra/local/workflows/stdlib.py.
"""

from __future__ import annotations

import pytest
import yaml

from infra.local.workflows import WorkflowSyntaxError, parse_workflow, run_workflow


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
