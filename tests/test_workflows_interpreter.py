"""The local Workflows executor (infra/local/workflows) on its own, then the real
infra/workflows/pass1.yaml run end to end against a scripted stand-in for the three functions.

The stand-in is a stdlib HTTP server on 127.0.0.1 (port 0) that answers from per-test scripts and
records every request; the executor talks to it over real HTTP. Time is a fake clock that the injected
sleep advances, so polling, backoff and deadlines run instantly and deterministically.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from infra.local.layout import REPO_ROOT
from infra.local.workflows import (
    LOCAL_OIDC_TOKEN,
    WorkflowFailed,
    WorkflowSyntaxError,
    load_workflow,
    parse_workflow,
    run_workflow,
)
from infra.local.workflows.__main__ import main as cli_main

PASS1 = REPO_ROOT / "infra" / "workflows" / "pass1.yaml"
START = 1_750_000_000.0


# ---- harness -------------------------------------------------------------------------------------


class FakeTime:
    """A clock that only the injected sleep moves; records every sleep."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class Execution:
    """One run of a definition with fake time and an event log."""

    def __init__(self, definition: Any, args: Any = None, env: dict | None = None):
        self.time = FakeTime()
        self.events: list[dict] = []
        self.workflow = definition if not isinstance(definition, dict) else program(definition)
        self.args, self.env = args, env

    def run(self) -> Any:
        return run_workflow(
            self.workflow,
            self.args,
            clock=self.time.clock,
            sleep=self.time.sleep,
            on_event=self.events.append,
            env=self.env,
        )

    def sleeps(self, reason: str) -> list[float]:
        return [e["seconds"] for e in self.events if e["type"] == "sleep" and e["reason"] == reason]

    def logs(self, event: str) -> list[dict]:
        return [e["json"] for e in self.events if e["type"] == "log" and e.get("json", {}).get("event") == event]


def program(steps_or_doc: Any, params: list[str] | None = None) -> Any:
    """A workflow from Python data (steps list, or a whole document), through real YAML text."""
    doc = (
        steps_or_doc if isinstance(steps_or_doc, dict) else {"main": {"params": params or ["a"], "steps": steps_or_doc}}
    )
    return parse_workflow(yaml.safe_dump(doc, sort_keys=False))


def run(steps: list, args: Any = None, **kwargs: Any) -> Any:
    return Execution(program(steps), args, **kwargs).run()


def reply(status: int, body: Any = None, content_type: str = "application/json") -> tuple:
    return status, body, content_type


class LocalServer:
    """A stdlib HTTP server whose routes are Python callables: request dict -> (status, body, type)."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict], tuple]] = {}
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (stdlib naming)
                outer._handle(self, "GET")

            def do_POST(self):  # noqa: N802
                outer._handle(self, "POST")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(handler.path)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        is_json = "json" in (handler.headers.get("Content-Type") or "")
        request = {
            "method": method,
            "path": parsed.path,
            "query": {k: v[0] if len(v) == 1 else v for k, v in parse_qs(parsed.query).items()},
            "body": json.loads(raw) if raw and is_json else raw.decode(),
            "headers": dict(handler.headers),
        }
        with self._lock:
            self.requests.append(request)
        route = self.routes.get(parsed.path)
        status, body, content_type = route(request) if route else reply(404, {"error": "no route"})
        payload = (json.dumps(body) if content_type == "application/json" else body or "").encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test): nothing to answer

    def received(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]


def scripted(*answers: tuple) -> Callable[[dict], tuple]:
    """Answers in order; past the end, a 500 that names the exhausted script (fails the test visibly)."""
    queue, lock = list(answers), threading.Lock()

    def route(request: dict) -> tuple:
        with lock:
            return queue.pop(0) if queue else reply(500, {"error": f"script for {request['path']} exhausted"})

    return route


@pytest.fixture
def server():
    instance = LocalServer()
    instance.thread.start()
    yield instance
    instance.httpd.shutdown()
    instance.httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---- expressions -------------------------------------------------------------------------------

ARGS = {"m": {"k": 1, "nested": {"deep": "x"}}, "l": ["a", "b"], "flag": True, "n": None}

EXPRESSIONS = [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("7 / 2", 3.5),
    ("6 / 3", 2.0),
    ("7 // 2", 3),
    ("7 % 4", 3),
    ("-2 + 5", 3),
    ("1.5 * 2", 3.0),
    ('"a" + "b"', "ab"),
    ("'single' + \"dq\\n\"", "singledq\n"),
    ("1 == 1.0", True),
    ('"1" == 1', False),
    ('a.m == a["m"]', True),
    ("2 < 3 and not (3 < 2)", True),
    ("not a.flag", False),
    ("false or true", True),
    ("true and false or true", True),
    ("false and a.missing", False),
    ("true or a.missing", True),
    ('"a" in a.l', True),
    ('"k" in a.m', True),
    ('"z" in a.m', False),
    ('not("z" in a.m)', True),
    ("a.m.k", 1),
    ('a["m"]["nested"].deep', "x"),
    ("a.l[1]", "b"),
    ("a.l[a.m.k]", "b"),
    ("[1, 2, 3][2]", 3),
    ("a.n == null", True),
    ('len(a.l) + len("abc") + len(a.m)', 7),
    ("keys(a.m)", ["k", "nested"]),
    ('map.get(a, "missing")', None),
    ('map.get(a.m, ["nested", "deep"])', "x"),
    ('map.get(a.n, "k")', None),
    ('map.get(a.l, "k")', None),
    ("default(null, 5)", 5),
    ("default(0, 5)", 0),
    ('int("42") + int(2.9) + int(-2.9)', 42),
    ("double(1)", 1.0),
    ('string(12) + "/" + string(true) + "/" + string(1.5)', "12/true/1.5"),
    ('list.concat(a.l, "c")', ["a", "b", "c"]),
    ("list.concat([], a.m)", [{"k": 1, "nested": {"deep": "x"}}]),
    ("math.min(3, 1.5)", 1.5),
    ("math.max(3, 4)", 4),
    ("math.max(3, 2.0)", 3.0),
    ("json.encode_to_string(a.m)", '{"k":1,"nested":{"deep":"x"}}'),
    ("sys.now()", START),
    ('text.substring("2024-06-01T02:00:00Z", 0, 10)', "2024-06-01"),
    ('text.substring("abc", 1, 99)', "bc"),
    ("time.format(0)", "1970-01-01T00:00:00.000000Z"),
    ('time.format(1.5, "Europe/Paris")', "1970-01-01T01:00:01.500000+01:00"),
    ('sys.get_env("X_TEST")', "yes"),
    ('sys.get_env("NOT_SET", "fallback")', "fallback"),
]


@pytest.mark.parametrize("expression, expected", EXPRESSIONS)
def test_expressions_evaluate_like_workflows(expression, expected):
    result = run([{"r": {"return": "${" + expression + "}"}}], ARGS, env={"X_TEST": "yes"})
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    "expression, tag",
    [
        ('"a" + 1', "TypeError"),
        ("not 1", "TypeError"),
        ('1 < "2"', "TypeError"),
        ("a.nope", "KeyError"),
        ("undefined_variable", "KeyError"),
        ("a.l[5]", "IndexError"),
        ('a.l["x"]', "TypeError"),
        ("1 / 0", "ZeroDivisionError"),
        ('int("x")', "ValueError"),
        ("len(a.m.k)", "TypeError"),
        ('map.get(a.m, a.m.k)', "TypeError"),
        ('sys.get_env("NOT_SET")', "KeyError"),
    ],
)
def test_expression_errors_are_catchable_workflows_exceptions(expression, tag):
    steps = [
        {
            "t": {
                "try": {"steps": [{"r": {"return": "${" + expression + "}"}}]},
                "except": {"as": "e", "steps": [{"caught": {"return": "${e.tags}"}}]},
            }
        }
    ]
    assert run(steps, ARGS) == [tag]


def test_an_uncaught_error_fails_the_execution_with_its_map():
    with pytest.raises(WorkflowFailed) as failed:
        run([{"r": {"return": "${a.missing}"}}], ARGS)
    assert failed.value.error["tags"] == ["KeyError"]
    assert "missing" in failed.value.error["message"]


# ---- assign, switch, next, for -----------------------------------------------------------------


def test_assign_writes_keys_and_indexes_and_copies_values():
    steps = [
        {
            "s": {
                "assign": [
                    {"m": {"a": 1}},
                    {"l": [1, 2]},
                    {"m.b": 2},
                    {'m["c"]': "${m.a + m.b}"},
                    {"l[0]": 9},
                    {"copy": "${m}"},
                    {"copy.a": 100},
                    {"key": "d"},
                    {"m[key]": "${len(l)}"},
                ]
            }
        },
        {"r": {"return": ["${m}", "${l}", "${copy.a}"]}},
    ]
    assert run(steps) == [{"a": 1, "b": 2, "c": 3, "d": 2}, [9, 2], 100]


def test_switch_and_next_make_a_loop_and_end_stops_with_null():
    loop = [
        {"init": {"assign": [{"i": 0}, {"seen": []}]}},
        {"check": {"switch": [{"condition": "${i >= 3}", "next": "done"}]}},
        {"body": {"assign": [{"seen": "${list.concat(seen, i)}"}, {"i": "${i + 1}"}], "next": "check"}},
        {"done": {"return": "${seen}"}},
    ]
    assert run(loop) == [0, 1, 2]
    ended = [{"stop": {"next": "end"}}, {"never": {"return": 1}}]
    assert run(ended) is None


def test_switch_conditions_run_assign_steps_raise_and_return_then_fall_through():
    steps = [
        {"init": {"assign": [{"x": 0}]}},
        {
            "sw": {
                "switch": [
                    {"condition": "${x > 0}", "return": "wrong"},
                    {
                        "condition": True,
                        "assign": [{"x": "${x + 1}"}],
                        "steps": [{"inner": {"assign": [{"x": "${x * 10}"}]}}],
                    },
                ]
            }
        },
        {"after": {"switch": [{"condition": "${x == 10}", "return": "${x}"}]}},
        {"fallback": {"raise": "not reached"}},
    ]
    assert run(steps) == 10
    with pytest.raises(WorkflowFailed, match="TypeError"):
        run([{"sw": {"switch": [{"condition": "${1}", "next": "end"}]}}])


def test_for_in_range_break_continue_and_loop_scope():
    steps = [
        {"init": {"assign": [{"total": 0}, {"indexes": []}]}},
        {
            "over_list": {
                "for": {
                    "value": "v",
                    "index": "i",
                    "in": [10, 20, 30],
                    "steps": [
                        {
                            "add": {
                                "assign": [
                                    {"total": "${total + v}"},
                                    {"indexes": "${list.concat(indexes, i)}"},
                                    {"local": 1},
                                ]
                            }
                        }
                    ],
                }
            }
        },
        {
            "over_range": {
                "for": {
                    "value": "n",
                    "range": [1, 10],
                    "steps": [
                        {"skip_odd": {"switch": [{"condition": "${n % 2 == 1}", "next": "continue"}]}},
                        {"stop": {"switch": [{"condition": "${n > 6}", "next": "break"}]}},
                        {"add_even": {"assign": [{"total": "${total + n}"}]}},
                    ],
                }
            }
        },
        # `local` does not exist here: reading it is refused at load (tests/test_workflows_rules.py).
        {"done": {"return": ["${total}", "${indexes}"]}},
    ]
    # 10+20+30, then 2+4+6 (odd skipped, stop at 7)
    assert run(steps) == [72, [0, 1, 2]]


# ---- parallel ----------------------------------------------------------------------------------


def test_parallel_for_sums_into_a_shared_variable():
    steps = [
        {"init": {"assign": [{"total": 0}]}},
        {
            "fan": {
                "parallel": {
                    "shared": ["total"],
                    "concurrency_limit": 5,
                    "for": {
                        "value": "n",
                        "range": [1, 50],
                        "steps": [{"add": {"assign": [{"local": "${n * 2}"}, {"total": "${total + local}"}]}}],
                    },
                }
            }
        },
        {"r": {"return": "${total}"}},
    ]
    assert run(steps) == 2550


def test_one_assignment_to_a_shared_variable_is_atomic():
    """Both branches read `total`, then stop inside sys.now() until the other arrives or 0.3 s pass.
    Atomic assignments keep the second branch out until the first has written (3); without that,
    both add to the 0 they read (a lost update)."""
    arrivals = {"count": 0}
    meeting = threading.Condition()

    def clock() -> float:
        with meeting:
            arrivals["count"] += 1
            meeting.notify_all()
            meeting.wait_for(lambda: arrivals["count"] >= 2, timeout=0.3)
        return START

    steps = [
        {"init": {"assign": [{"total": 0}]}},
        {
            "fan": {
                "parallel": {
                    "shared": ["total"],
                    "concurrency_limit": 2,
                    "for": {
                        "value": "n",
                        "in": [1, 2],
                        "steps": [{"add": {"assign": [{"total": "${total + n + int(sys.now() * 0)}"}]}}],
                    },
                }
            }
        },
        {"r": {"return": "${total}"}},
    ]
    assert run_workflow(program(steps), clock=clock, sleep=FakeTime().sleep) == 3


def test_parallel_for_really_runs_concurrently_up_to_the_limit(server):
    barrier, lock, state = threading.Barrier(3, timeout=5), threading.Lock(), {"in_flight": 0, "peak": 0}

    def hold(request: dict) -> tuple:
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        try:
            barrier.wait()  # only passes when three calls are in flight together
            return reply(200, {"n": request["query"]["n"]})
        except threading.BrokenBarrierError:
            return reply(500, {"error": "calls did not overlap"})
        finally:
            with lock:
                state["in_flight"] -= 1

    server.routes["/hold"] = hold
    steps = [
        {"init": {"assign": [{"got": []}]}},
        {
            "fan": {
                "parallel": {
                    "shared": ["got"],
                    "concurrency_limit": 3,
                    "for": {
                        "value": "n",
                        "in": list(range(9)),
                        "steps": [
                            {
                                "call_it": {
                                    "call": "http.get",
                                    "args": {"url": server.url("/hold"), "query": {"n": "${n}"}},
                                    "result": "r",
                                }
                            },
                            {"keep": {"assign": [{"got": "${list.concat(got, int(r.body.n))}"}]}},
                        ],
                    },
                }
            }
        },
        {"r": {"return": "${got}"}},
    ]
    execution = Execution(program(steps))
    assert sorted(execution.run()) == list(range(9))
    assert state["peak"] == 3
    branches = {e["branch"] for e in execution.events if e["type"] == "http"}
    assert branches == {f"fan[{i}]" for i in range(9)}


def test_parallel_branch_errors_come_back_as_one_unhandled_branch_error():
    steps = [
        {"init": {"assign": [{"done": 0}]}},
        {
            "t": {
                "try": {
                    "steps": [
                        {
                            "fan": {
                                "parallel": {
                                    "shared": ["done"],
                                    "for": {
                                        "value": "n",
                                        "in": [1, 2, 3],
                                        "steps": [
                                            {
                                                "fail_two": {
                                                    "switch": [
                                                        {
                                                            "condition": "${n == 2}",
                                                            "raise": {"code": 7, "message": "two"},
                                                        }
                                                    ]
                                                }
                                            },
                                            {"count": {"assign": [{"done": "${done + 1}"}]}},
                                        ],
                                    },
                                }
                            }
                        }
                    ]
                },
                "except": {"as": "e", "steps": [{"r": {"return": ["${e.tags}", "${e.branches}", "${done}"]}}]},
            }
        },
    ]
    tags, branches, done = run(steps)
    assert tags == ["UnhandledBranchError"]
    assert branches == [{"id": "1", "error": {"code": 7, "message": "two"}}]
    assert done == 2  # continueAll: the other iterations ran to the end


def test_parallel_branch_may_not_assign_a_non_shared_parent_variable():
    steps = [
        {"init": {"assign": [{"total": 0}]}},
        {"fan": {"parallel": {"for": {"value": "n", "in": [1], "steps": [{"add": {"assign": [{"total": 1}]}}]}}}},
    ]
    with pytest.raises(WorkflowSyntaxError, match="not listed in the parallel step's shared"):
        run(steps)


# ---- try, retry, raise -------------------------------------------------------------------------


def _call_with(url: str, retry: Any, method: str = "http.get") -> list:
    return [
        {
            "t": {
                "try": {"call": method, "args": {"url": url}, "result": "r"},
                "retry": retry,
                "except": {
                    "as": "e",
                    "steps": [{"failed": {"return": {"tags": "${e.tags}", "code": '${map.get(e, "code")}'}}}],
                },
            }
        },
        {"ok": {"return": "${r.code}"}},
    ]


def test_custom_backoff_retries_then_succeeds(server):
    server.routes["/flaky"] = scripted(reply(503, {}), reply(503, {}), reply(200, {}))
    policy = {
        "predicate": "${http.default_retry_predicate}",
        "max_retries": 3,
        "backoff": {"initial_delay": 2, "max_delay": 5, "multiplier": 3},
    }
    execution = Execution(program(_call_with(server.url("/flaky"), policy)))
    assert execution.run() == 200
    assert execution.sleeps("retry") == [2.0, 5.0]  # 2, then 6 capped at 5
    assert len(server.received("/flaky")) == 3


def test_default_retry_gives_up_after_five_retries_and_except_sees_the_http_error(server):
    server.routes["/down"] = lambda request: reply(503, {"error": "down"})
    execution = Execution(program(_call_with(server.url("/down"), "${http.default_retry}")))
    assert execution.run() == {"tags": ["HttpError"], "code": 503}
    assert execution.sleeps("retry") == [1.0, 1.25, 1.5625, 1.953125, 2.44140625]
    assert len(server.received("/down")) == 6


@pytest.mark.parametrize(
    "code, policy, calls",
    [
        (404, "${http.default_retry}", 1),
        (502, "${http.default_retry}", 6),
        (502, "${http.default_retry_non_idempotent}", 1),
        (429, "${http.default_retry_non_idempotent}", 6),
    ],
)
def test_predefined_policies_retry_only_their_codes(server, code, policy, calls):
    server.routes["/x"] = lambda request: reply(code, {})
    assert Execution(program(_call_with(server.url("/x"), policy))).run() == {"tags": ["HttpError"], "code": code}
    assert len(server.received("/x")) == calls


def test_connection_refused_is_a_retried_connection_failed_error():
    execution = Execution(program(_call_with(closed_port_url(), "${http.default_retry}")))
    assert execution.run() == {"tags": ["ConnectionFailedError"], "code": None}
    assert len(execution.sleeps("retry")) == 5


def test_a_call_past_its_timeout_raises_timeout_error(server):
    release = threading.Event()

    def slow(request: dict) -> tuple:
        release.wait(5)
        return reply(200, {})

    server.routes["/slow"] = slow
    steps = [
        {
            "t": {
                "try": {"call": "http.get", "args": {"url": server.url("/slow"), "timeout": 0.2}},
                "except": {"as": "e", "steps": [{"r": {"return": "${e.tags}"}}]},
            }
        }
    ]
    try:
        assert run(steps) == ["TimeoutError"]
    finally:
        release.set()


def test_raise_a_string_or_a_map():
    with pytest.raises(WorkflowFailed) as failed:
        run([{"boom": {"raise": "boom"}}])
    assert failed.value.error == "boom"
    caught = [
        {
            "t": {
                "try": {"steps": [{"boom": {"raise": {"code": 55, "message": "custom", "tags": ["Mine"]}}}]},
                "except": {"as": "e", "steps": [{"r": {"return": "${e}"}}]},
            }
        }
    ]
    assert run(caught) == {"code": 55, "message": "custom", "tags": ["Mine"]}


# ---- http and sys calls ------------------------------------------------------------------------


def test_http_calls_send_query_headers_json_body_and_oidc_token(server):
    server.routes["/echo"] = lambda request: reply(200, request)
    server.routes["/text"] = lambda request: reply(200, "plain words", content_type="text/plain")
    steps = [
        {
            "get": {
                "call": "http.get",
                "args": {
                    "url": server.url("/echo"),
                    "query": {"run_id": "r1", "all": True, "n": 3},
                    "headers": {"X-Trace": "t1"},
                },
                "result": "g",
            }
        },
        {
            "post": {
                "call": "http.post",
                "args": {"url": server.url("/echo"), "auth": {"type": "OIDC"}, "body": {"a": [1, None]}},
                "result": "p",
            }
        },
        {"text": {"call": "http.get", "args": {"url": server.url("/text")}, "result": "t"}},
        {"r": {"return": ["${g}", "${p.body}", "${t.body}"]}},
    ]
    get, post, text = run(steps)
    assert get["code"] == 200 and get["headers"]["Content-Type"] == "application/json"
    assert get["body"]["query"] == {"run_id": "r1", "all": "true", "n": "3"}
    assert get["body"]["headers"]["X-Trace"] == "t1" and "Authorization" not in get["body"]["headers"]
    assert post["method"] == "POST" and post["body"] == {"a": [1, None]}
    assert post["headers"]["Authorization"] == f"Bearer {LOCAL_OIDC_TOKEN}"
    assert text == "plain words"


def test_non_2xx_raises_an_http_error_map_with_the_parsed_body(server):
    server.routes["/teapot"] = lambda request: reply(418, {"status": "error", "error": {"code": "TEAPOT"}})
    steps = [
        {
            "t": {
                "try": {"call": "http.post", "args": {"url": server.url("/teapot"), "body": {}}},
                "except": {"as": "e", "steps": [{"r": {"return": "${e}"}}]},
            }
        }
    ]
    error = run(steps)
    assert error["tags"] == ["HttpError"] and error["code"] == 418
    assert error["body"] == {"status": "error", "error": {"code": "TEAPOT"}}
    assert error["message"] == "HTTP server responded with error code 418"
    assert error["headers"]["Content-Type"] == "application/json"


def test_events_report_steps_sleeps_and_logs():
    steps = [
        {"nap": {"call": "sys.sleep", "args": {"seconds": 7}}},
        {"say": {"call": "sys.log", "args": {"severity": "INFO", "json": {"event": "hello", "at": "${sys.now()}"}}}},
        {"r": {"return": "${sys.now()}"}},
    ]
    execution = Execution(program(steps))
    assert execution.run() == START + 7
    assert [e["step"] for e in execution.events if e["type"] == "step"] == ["nap", "say", "r"]
    assert execution.sleeps("sys.sleep") == [7]
    assert execution.logs("hello") == [{"event": "hello", "at": START + 7}]
    assert execution.events[0]["type"] == "started" and execution.events[-1] == {
        "type": "succeeded",
        "result": START + 7,
    }


# ---- rejections --------------------------------------------------------------------------------

REJECTED = [
    ([{"s": {"wait": 5}}], ["main > s", "unknown step key(s) ['wait']"]),
    ([{"s": {"call": "http.put", "args": {"url": "x"}}}], ["main > s", "call target 'http.put' is not supported"]),
    ([{"s": {"call": "googleapis.storage.v1.objects.list", "args": {}}}], ["main > s", "is not supported"]),
    ([{"s": {"return": '${text.concat("a", "b")}'}}], ["main > s", "unknown function text.concat()"]),
    ([{"s": {"return": "${len(1, 2)}"}}], ["main > s", "len() takes 1..1 arguments, got 2"]),
    ([{"s": {"return": "${1 +}"}}], ["main > s", "unexpected end"]),
    ([{"s": {"return": '${ {"a": 1} }'}}], ["main > s", "map literals are not supported"]),
    ([{"s": {"return": "run ${a}"}}], ["main > s", "mixes text and an expression"]),
    ([{"s": {"next": "nowhere"}}], ["main > s", "'nowhere' is not a step"]),
    ([{"s": {"next": "break"}}], ["main > s", "next: break outside a for loop"]),
    (
        [{"loop": {"for": {"value": "v", "in": [1], "steps": [{"out": {"next": "after"}}]}}}, {"after": {"return": 1}}],
        ["main > loop > out", "jumps cannot enter or leave"],
    ),
    (
        [{"p": {"parallel": {"for": {"value": "v", "in": [1], "steps": [{"r": {"return": 1}}]}}}}],
        ["main > p > r", "return inside a parallel branch"],
    ),
    (
        [{"p": {"parallel": {"for": {"value": "v", "in": [1], "steps": [{"c": {"next": "continue"}}]}}}}],
        ["main > p > c", "next: continue outside a parallel for"],
    ),
    (
        [{"p": {"parallel": {"branches": [{"b": {"steps": [{"x": {"return": 1}}]}}]}}}],
        ["main > p", "parallel branches are not supported"],
    ),
    (
        [
            {
                "t": {
                    "try": {"call": "http.get", "args": {"url": "x"}},
                    "retry": {
                        "predicate": "${my_predicate}",
                        "max_retries": 1,
                        "backoff": {"initial_delay": 1, "max_delay": 2, "multiplier": 2},
                    },
                }
            }
        ],
        ["main > t", "retry predicate '${my_predicate}' is not supported"],
    ),
    (
        [{"t": {"try": {"call": "http.get", "args": {"url": "x"}}, "retry": "${retry.always}"}}],
        ["main > t", "retry policy"],
    ),
    (
        [{"s": {"call": "http.get", "args": {"url": "x", "timeout": 3600}}}],
        ["main > s", "timeout 3600 outside (0, 1800]"],
    ),
    ([{"s": {"call": "http.get", "args": {"url": "x", "body": {}}}}], ["main > s", "http.get takes args"]),
    ([{"s": {"call": "http.get", "args": {"url": "x", "auth": {"type": "OAuth2"}}}}], ["main > s", "auth"]),
    ([{"s": {"call": "sys.log", "args": {"text": "a", "json": {}}}}], ["main > s", "exactly one of text, json, data"]),
    (
        [{"s": {"for": {"value": "v", "index": "i", "range": [1, 2], "steps": [{"x": {"assign": [{"y": 1}]}}]}}}],
        ["main > s", "index is only supported with in"],
    ),
    ([{"s": {"assign": [{"x": 1}], "call": "sys.log"}}], ["main > s", "a step has one kind"]),
    ([{"s": {"assign": [{"x": 1}]}}, {"s": {"return": 1}}], ["main", "duplicate step names ['s']"]),
]


@pytest.mark.parametrize("steps, fragments", REJECTED)
def test_unsupported_constructs_are_refused_at_load_naming_step_and_construct(steps, fragments):
    with pytest.raises(WorkflowSyntaxError) as refused:
        program(steps)
    for fragment in fragments:
        assert fragment in str(refused.value)


def test_subworkflows_are_refused():
    doc = {"main": {"steps": [{"r": {"return": 1}}]}, "helper": {"params": ["x"], "steps": [{"r": {"return": 1}}]}}
    with pytest.raises(WorkflowSyntaxError, match=r"subworkflows are not supported by this executor: \['helper'\]"):
        program(doc)


def test_cli_runs_a_definition_and_prints_progress_and_result(tmp_path, capsys):
    definition = tmp_path / "tiny.yaml"
    steps = [
        {"say": {"call": "sys.log", "args": {"text": "${args.word}"}}},
        {"r": {"return": {"echo": "${args.word}", "env": '${sys.get_env("A") + sys.get_env("B")}'}}},
    ]
    definition.write_text(yaml.safe_dump({"main": {"params": ["args"], "steps": steps}}))
    env_file = tmp_path / "stack.env"
    env_file.write_text("# comment\nA=from-file\n")
    assert (
        cli_main(["run", str(definition), "--args", '{"word": "hi"}', "--env-file", str(env_file), "--env", "B=+flag"])
        == 0
    )
    out, err = capsys.readouterr()
    assert json.loads(out) == {"echo": "hi", "env": "from-file+flag"}
    assert "step main > say" in err and "log DEFAULT hi" in err
    assert cli_main(["check", str(PASS1)]) == 0


# ---- infra/workflows/pass1.yaml end to end -----------------------------------------------------

RUN_ID = "2024-06-01"
DIR_A = "gs://out/pass1/2024-06-01/prediction-model-a"
DIR_B = "gs://out/pass1/2024-06-01/prediction-model-b"


def submitted(requests: int = 100, status: str = "submitted") -> tuple:
    jobs = [{"name": "projects/p/locations/l/batchPredictionJobs/1", "state": "JOB_STATE_PENDING"}]
    return reply(
        200,
        {
            "status": status,
            "run_id": RUN_ID,
            "batch_type": "pass1",
            "jobs": jobs,
            "requests": requests,
            "skipped_records": 0,
        },
    )


def polled(
    done: bool, succeeded: bool = False, status: str = "RUNNING", outputs: list | None = None, error: Any = None
) -> tuple:
    body = {
        "run_id": RUN_ID,
        "batch_type": "pass1",
        "status": status,
        "llm_status": "JOB_STATE_SUCCEEDED" if succeeded else ("JOB_STATE_FAILED" if done else "JOB_STATE_RUNNING"),
        "done": done,
        "succeeded": succeeded,
        "output_info": outputs or [],
        "progress": {"completed": 0},
        "error": error,
        "attempt": 1,
    }
    return reply(200, body)


def done_with(*outputs: dict) -> tuple:
    return polled(True, True, "PENDING_PROCESSING", list(outputs))


def completed(tokens: tuple[int, int, int] | None = None, reconciled_extras: int = 0, **counts: int) -> tuple:
    """poll_status once the run is COMPLETED: run_totals, the run record's (reconciled) totals, shaped
    like shared/totals.run_totals; an absent count is 0."""
    status, body, content_type = polled(True, True, "COMPLETED")
    names = ("processed_records", "inserted_rows", "repaired_records", "failed_records", "unmatched_records",
             "duplicate_records", "pending_records", "unconverted_values", "retry_requests")
    body["run_totals"] = {**dict.fromkeys(names, 0), **counts, "reconciled_extras": reconciled_extras,
                          "token_usage": dict(zip(("prompt", "candidates", "total"), tokens or (0, 0, 0)))}
    return status, body, content_type


def processed(status: str = "success", tokens: tuple[int, int, int] | None = None, **counts: int) -> tuple:
    """An answer of the processor, shaped like functions/pass1_batch_processor's."""
    body = {"status": status, "resume": status == "partial", "run_id": RUN_ID, "files": [], **counts}
    if tokens:
        body["token_usage"] = dict(zip(("prompt", "candidates", "total"), tokens))
    return reply(200, body)


def by_unit(scripts: dict) -> Callable[[dict], tuple]:
    """The processor: one script per unit, keyed by (directory, files or None)."""
    routes = {key: scripted(*answers) for key, answers in scripts.items()}

    def route(request: dict) -> tuple:
        body = request["body"]
        files = body.get("files")
        key = (body["output_info"]["gcsOutputDirectory"], tuple(files) if files else None)
        return routes[key](request) if key in routes else reply(404, {"error": f"unknown unit {key}"})

    return route


def pass1(server: LocalServer, **extra: Any) -> Execution:
    args = {
        "run_id": RUN_ID,
        "source": {"table": "proj.calls.transcripts"},
        "submit_url": server.url("/submit"),
        "poll_url": server.url("/poll"),
        "process_url": server.url("/process"),
        "poll_initial_seconds": 10,
        "poll_max_seconds": 60,
        **extra,
    }
    return Execution(pass1_definition(), args, env={"GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": "exec-1"})


_LOADED: list = []


def pass1_definition():
    """The real file, loaded once: a loaded workflow holds no execution state."""
    if not _LOADED:
        _LOADED.append(load_workflow(PASS1))
    return _LOADED[0]


def test_pass1_success_path_returns_the_summary(server):
    server.routes["/submit"] = scripted(submitted())
    counts = dict(
        processed_records=100,
        inserted_rows=90,
        failed_records=6,
        duplicate_records=4,
        unmatched_records=7,
        repaired_records=3,
    )
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A}), completed((4000, 1000, 5000), **counts))
    server.routes["/process"] = by_unit({(DIR_A, None): [processed(tokens=(4000, 1000, 5000), **counts)]})

    execution = pass1(server)
    summary = execution.run()

    assert summary == {
        "run_id": RUN_ID,
        "batch_type": "pass1",
        "workflow_id": "exec-1",
        "status": "succeeded",
        "rows_landed": 90,
        "dead_lettered": 6,
        "unmatched": 7,
        "duplicates": 4,
        "repaired": 3,
        "processed": 100,
        "tokens": {"prompt": 4000, "candidates": 1000, "total": 5000},
        "attempts": 1,
        "retried_requests": 0,
        "unretried_requests": 0,
        "attempt_details": [
            {
                "attempt": 1,
                "units": 1,
                "counts": {
                    **counts,
                    "retry_requests": 0,
                    "prompt_tokens": 4000,
                    "candidates_tokens": 1000,
                    "total_tokens": 5000,
                },
            }
        ],
        "duration_seconds": 0.0,
    }
    [submit] = server.received("/submit")
    assert submit["body"] == {"run_id": RUN_ID, "batch_type": "pass1", "source": {"table": "proj.calls.transcripts"}}
    # Polled until done, then once more for the completed run's totals.
    polls = server.received("/poll")
    assert len(polls) == 2
    for poll in polls:
        assert poll["method"] == "GET" and poll["query"] == {"run_id": RUN_ID, "batch_type": "pass1", "jobs": "false"}
    [process] = server.received("/process")
    assert process["body"] == {
        "run_id": RUN_ID,
        "batch_type": "pass1",
        "workflow_id": "exec-1",
        "output_info": {"gcsOutputDirectory": DIR_A},
    }
    assert {r["headers"]["Authorization"] for r in server.requests} == {f"Bearer {LOCAL_OIDC_TOKEN}"}


def test_pass1_polls_with_a_growing_interval_up_to_the_cap(server):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(*[polled(False)] * 5, done_with({"gcsOutputDirectory": DIR_A}),
                                      completed(inserted_rows=1))
    server.routes["/process"] = by_unit({(DIR_A, None): [processed(inserted_rows=1)]})

    execution = pass1(server)
    summary = execution.run()

    assert execution.sleeps("sys.sleep") == [10, 20, 40, 60, 60]
    assert summary["duration_seconds"] == 190
    assert len(server.received("/poll")) == 7  # the last one reads the completed run's totals
    assert [log["done"] for log in execution.logs("polled")] == [False] * 5 + [True]


def test_pass1_raises_when_the_deadline_passes(server):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = lambda request: polled(False, status="SUBMITTED")

    execution = pass1(server, deadline_seconds=100)
    with pytest.raises(WorkflowFailed) as failed:
        execution.run()

    assert failed.value.error["tags"] == ["DeadlineExceeded"]
    assert "not done after 100 s (last status SUBMITTED)" in failed.value.error["message"]
    # 10, 20, 40, then only the 30 s left: the last poll happens at the deadline.
    assert execution.sleeps("sys.sleep") == [10, 20, 40, 30]
    assert len(server.received("/poll")) == 5


def test_pass1_calls_the_processor_again_while_it_answers_partial(server):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A}),
                                      completed(processed_records=350, inserted_rows=347, failed_records=3))
    server.routes["/process"] = by_unit(
        {
            (DIR_A, None): [
                processed("partial", processed_records=100, inserted_rows=100),
                processed("partial", processed_records=200, inserted_rows=199, failed_records=1),
                processed("partial", processed_records=300, inserted_rows=298, failed_records=2),
                processed("success", processed_records=350, inserted_rows=347, failed_records=3),
            ]
        }
    )

    execution = pass1(server)
    summary = execution.run()

    calls = server.received("/process")
    assert len(calls) == 4 and all(call["body"] == calls[0]["body"] for call in calls)
    # The run's totals, not the sum of the four answers (each is cumulative for the unit).
    assert (summary["processed"], summary["rows_landed"], summary["dead_lettered"]) == (350, 347, 3)
    progress = [(log["calls"], log["status"], log["inserted_rows"]) for log in execution.logs("process_answer")]
    assert progress == [(1, "partial", 100), (2, "partial", 199), (3, "partial", 298), (4, "success", 347)]


def test_pass1_fans_out_over_directories_and_files_in_parallel(server):
    server.routes["/submit"] = scripted(submitted())
    outputs = [
        {"gcsOutputDirectory": DIR_A},
        {"gcsOutputDirectory": DIR_B, "files": [f"{DIR_B}/predictions_1.jsonl", f"{DIR_B}/predictions_2.jsonl"]},
    ]
    server.routes["/poll"] = scripted(done_with(*outputs), completed((480, 120, 600), inserted_rows=60,
                                                                     unmatched_records=2))
    units = {
        (DIR_A, None): [processed(inserted_rows=10, tokens=(80, 20, 100))],
        (DIR_B, (f"{DIR_B}/predictions_1.jsonl",)): [
            processed("partial", inserted_rows=5),
            processed(inserted_rows=20, tokens=(150, 50, 200)),
        ],
        (DIR_B, (f"{DIR_B}/predictions_2.jsonl",)): [
            processed(inserted_rows=30, unmatched_records=2, tokens=(250, 50, 300))
        ],
    }
    answer = by_unit(units)
    barrier = threading.Barrier(3, timeout=5)
    first_calls: set = set()

    def process(request: dict) -> tuple:
        key = json.dumps(request["body"], sort_keys=True)
        if key not in first_calls:  # the three units' first calls must be in flight together
            first_calls.add(key)
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return reply(500, {"error": "units were not processed in parallel"})
        return answer(request)

    server.routes["/process"] = process

    summary = pass1(server, process_concurrency=3).run()

    assert (summary["rows_landed"], summary["unmatched"]) == (60, 2)
    assert summary["tokens"] == {"prompt": 480, "candidates": 120, "total": 600}
    assert summary["attempt_details"][0]["units"] == 3
    bodies = [r["body"] for r in server.received("/process")]
    assert {
        "run_id": RUN_ID,
        "batch_type": "pass1",
        "workflow_id": "exec-1",
        "output_info": {"gcsOutputDirectory": DIR_B},
        "files": [f"{DIR_B}/predictions_2.jsonl"],
    } in bodies


def test_pass1_summary_is_the_run_record_s_totals_not_the_sum_of_the_units_answers(server):
    """Issue 15, one run total: two units both wrote a shared key; the processor reconciled it on the
    run record (7 rows, 1 duplicate), while the units' answers add up to 8 rows."""
    server.routes["/submit"] = scripted(submitted())
    files = [f"{DIR_A}/predictions_1.jsonl", f"{DIR_A}/predictions_2.jsonl"]
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A, "files": files}),
                                      completed(processed_records=8, inserted_rows=7, duplicate_records=1,
                                                reconciled_extras=1))
    server.routes["/process"] = by_unit({(DIR_A, (f,)): [processed(processed_records=4, inserted_rows=4)]
                                         for f in files})

    summary = pass1(server).run()

    assert (summary["processed"], summary["rows_landed"], summary["duplicates"]) == (8, 7, 1)
    assert summary["attempt_details"][0]["counts"]["inserted_rows"] == 7


@pytest.mark.parametrize("last_poll", [polled(True, True, "PROCESSING"), polled(True, True, "COMPLETED")],
                         ids=["not completed", "no run_totals"])
def test_pass1_fails_when_the_run_has_no_totals_after_every_unit_succeeded(server, last_poll):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A}), last_poll)
    server.routes["/process"] = by_unit({(DIR_A, None): [processed(inserted_rows=1)]})

    with pytest.raises(WorkflowFailed) as failed:
        pass1(server).run()

    assert failed.value.error["tags"] == ["ProcessError"]
    assert f"run {RUN_ID} attempt 1 - every unit succeeded but the run is {last_poll[1]['status']}" in \
        failed.value.error["message"]


def test_pass1_submits_a_retry_batch_for_model_failures_and_loops_once_more(server):
    server.routes["/submit"] = scripted(submitted(100), submitted(5))
    attempt_2 = done_with({"gcsOutputDirectory": DIR_A, "attempt": 1}, {"gcsOutputDirectory": DIR_B, "attempt": 2})
    attempt_2[1]["attempt"] = 2
    # run_totals are cumulative over the attempts: 100 + 5 processed after the second.
    server.routes["/poll"] = scripted(
        done_with({"gcsOutputDirectory": DIR_A, "attempt": 1}),
        completed(processed_records=100, inserted_rows=95, failed_records=5, retry_requests=5),
        polled(False, status="RUNNING"),
        attempt_2,
        completed(processed_records=105, inserted_rows=99, failed_records=6, retry_requests=6),
    )
    server.routes["/process"] = by_unit(
        {
            (DIR_A, None): [processed(processed_records=100, inserted_rows=95, failed_records=5, retry_requests=5)],
            (DIR_B, None): [processed(processed_records=5, inserted_rows=4, failed_records=1, retry_requests=1)],
        }
    )

    execution = pass1(server)
    summary = execution.run()

    first, second = server.received("/submit")
    assert "mode" not in first["body"]
    assert second["body"] == {"run_id": RUN_ID, "batch_type": "pass1", "mode": "retry_failed"}
    # poll_status lists every attempt's directories: only attempt 2's is processed the second time.
    assert [r["body"]["output_info"]["gcsOutputDirectory"] for r in server.received("/process")] == [DIR_A, DIR_B]
    # Attempt 2 still had a model failure, but max_retry_attempts (1) is spent.
    assert (summary["attempts"], summary["retried_requests"], summary["unretried_requests"]) == (2, 5, 1)
    assert (summary["rows_landed"], summary["dead_lettered"], summary["processed"]) == (99, 6, 105)
    assert [d["counts"]["inserted_rows"] for d in summary["attempt_details"]] == [95, 4]
    assert execution.sleeps("sys.sleep") == [10]  # the retry batch's polling starts from the initial interval


@pytest.mark.parametrize(
    "max_attempts, retry_answer, expected_submits",
    [
        (0, None, 1),
        (1, reply(409, {"status": "error", "error": {"code": "CONFLICT"}}), 2),
        (1, submitted(0, "nothing_to_retry"), 2),
    ],
)
def test_pass1_ends_with_the_summary_when_no_retry_batch_runs(server, max_attempts, retry_answer, expected_submits):
    server.routes["/submit"] = scripted(submitted(100), *([retry_answer] if retry_answer else []))
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A}),
                                      completed(inserted_rows=95, failed_records=5, retry_requests=5))
    server.routes["/process"] = by_unit(
        {(DIR_A, None): [processed(inserted_rows=95, failed_records=5, retry_requests=5)]}
    )

    summary = pass1(server, max_retry_attempts=max_attempts).run()

    assert (summary["attempts"], summary["retried_requests"], summary["unretried_requests"]) == (1, 0, 5)
    assert len(server.received("/submit")) == expected_submits


def test_pass1_raises_when_the_batch_job_failed(server):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(polled(True, False, "FAILED", error={"code": 3, "message": "bad input"}))

    with pytest.raises(WorkflowFailed) as failed:
        pass1(server).run()

    error = failed.value.error
    assert error["tags"] == ["BatchJobFailed"] and error["error"] == {"code": 3, "message": "bad input"}
    assert f"run {RUN_ID} attempt 1 ended as FAILED (Vertex JOB_STATE_FAILED)" == error["message"]
    assert server.received("/process") == []


def test_pass1_raises_when_a_succeeded_run_has_no_output_for_its_attempt(server):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A, "attempt": 0}))

    with pytest.raises(WorkflowFailed, match="without output_info for attempt 1"):
        pass1(server).run()
    assert server.received("/process") == []


def test_pass1_retries_transient_503_answers_of_every_function(server):
    unavailable = reply(503, {"status": "error", "error": {"code": "UPSTREAM_UNAVAILABLE"}})
    server.routes["/submit"] = scripted(unavailable, unavailable, submitted())
    server.routes["/poll"] = scripted(unavailable, done_with({"gcsOutputDirectory": DIR_A}), completed(inserted_rows=100))
    server.routes["/process"] = by_unit({(DIR_A, None): [unavailable, processed(inserted_rows=100)]})

    execution = pass1(server)
    assert execution.run()["rows_landed"] == 100
    assert execution.sleeps("retry") == [1.0, 1.25, 1.0, 1.0]
    assert [len(server.received(p)) for p in ("/submit", "/poll", "/process")] == [3, 3, 2]


def test_pass1_waits_for_a_busy_lease_then_fails_fast_on_a_terminal_error(server):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A}))
    conflict = reply(409, {"status": "error", "error": {"code": "CONFLICT"}})
    invalid = reply(400, {"status": "error", "error": {"code": "VALIDATION_ERROR", "message": "bad dataset"}})
    server.routes["/process"] = by_unit({(DIR_A, None): [conflict, invalid]})

    execution = pass1(server)
    with pytest.raises(WorkflowFailed) as failed:
        execution.run()

    assert execution.sleeps("sys.sleep") == [60]  # one lease wait, then the 400 is not retried
    branch_error = failed.value.error["branches"][0]["error"]
    assert branch_error["tags"] == ["ProcessError"] and branch_error["code"] == 400
    assert branch_error["cause"]["body"]["error"]["code"] == "VALIDATION_ERROR"
    assert len(server.received("/process")) == 2


def test_pass1_names_a_dated_run_and_finds_the_urls_in_its_environment(server):
    """The nightly Scheduler job's argument: a run_id_prefix, no URLs (deploy sets them as env vars)."""
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A}), completed(inserted_rows=1))
    server.routes["/process"] = by_unit({(DIR_A, None): [processed(inserted_rows=1)]})
    env = {
        "SUBMIT_BATCH_URL": server.url("/submit"),
        "POLL_STATUS_URL": server.url("/poll"),
        "PASS1_BATCH_PROCESSOR_URL": server.url("/process"),
    }
    execution = Execution(
        pass1_definition(), {"run_id_prefix": "nightly", "source": {"table": "transcripts", "days_back": 1}}, env=env
    )

    summary = execution.run()

    assert summary["run_id"] == "nightly-2025-06-15"  # START is 2025-06-15T15:06:40Z
    assert server.received("/submit")[0]["body"]["run_id"] == "nightly-2025-06-15"
    assert server.received("/poll")[0]["query"]["run_id"] == "nightly-2025-06-15"


def test_pass1_refuses_to_start_without_a_required_argument(server):
    execution = pass1(server)
    del execution.args["source"]
    with pytest.raises(WorkflowFailed, match="missing argument source"):
        execution.run()
    assert server.requests == []


@pytest.mark.parametrize("env", [{}, {"PASS1_BATCH_PROCESSOR_URL": ""}])
def test_pass1_without_a_url_fails_before_any_call_naming_the_argument_and_its_variable(server, env):
    """A fault pass1.yaml once had: an unset URL variable reads as "" (sys.get_env takes string defaults only),
    which the workflow refuses by name, instead of a TypeError in init on every execution."""
    execution = pass1(server)
    del execution.args["process_url"]
    execution.env.update(env)
    with pytest.raises(WorkflowFailed) as failed:
        execution.run()
    assert failed.value.error == {
        "tags": ["ValueError"],
        "message": "pass1 workflow - missing argument process_url - pass it, or set PASS1_BATCH_PROCESSOR_URL "
        "on the deployed workflow",
    }
    assert server.requests == []


def test_pass1_process_options_reach_every_processor_call(server):
    server.routes["/submit"] = scripted(submitted())
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A, "files": [f"{DIR_A}/p1.jsonl",
                                                                                        f"{DIR_A}/p2.jsonl"]}),
                                      completed(processed_records=2, inserted_rows=2))
    server.routes["/process"] = by_unit({
        (DIR_A, (f"{DIR_A}/p1.jsonl",)): [processed(processed_records=1, inserted_rows=1)],
        (DIR_A, (f"{DIR_A}/p2.jsonl",)): [processed(processed_records=1, inserted_rows=1)],
    })

    summary = pass1(server, process_options={"time_budget_seconds": 30, "write_method": "streaming"}).run()

    assert summary["rows_landed"] == 2
    bodies = sorted((r["body"] for r in server.received("/process")), key=lambda b: b["files"])
    assert bodies == [
        {"run_id": RUN_ID, "batch_type": "pass1", "workflow_id": "exec-1",
         "output_info": {"gcsOutputDirectory": DIR_A}, "files": [f"{DIR_A}/p{n}.jsonl"],
         "time_budget_seconds": 30, "write_method": "streaming"}
        for n in (1, 2)
    ]


def test_pass1_posts_the_same_submit_again_while_it_answers_partial(server):
    """A large table source: submit_batch answers "partial" (resume: true) while shards remain; the
    workflow repeats the same body until "submitted", then polls once."""
    partial = reply(200, {"status": "partial", "resume": True, "run_id": RUN_ID, "batch_type": "pass1",
                          "jobs": [], "requests": 10, "skipped_records": 0, "shards": 3, "shards_written": 1})
    server.routes["/submit"] = scripted(partial, partial, submitted())
    server.routes["/poll"] = scripted(done_with({"gcsOutputDirectory": DIR_A}), completed(processed_records=1,
                                                                                          inserted_rows=1))
    server.routes["/process"] = by_unit({(DIR_A, None): [processed(processed_records=1, inserted_rows=1)]})
    summary = pass1(server).run()
    assert summary["status"] == "succeeded"
    submits = server.received("/submit")
    assert len(submits) == 3 and len({json.dumps(s["body"], sort_keys=True) for s in submits}) == 1
    assert len(server.received("/poll")) == 2  # done, then the completed run's totals


def test_pass1_processes_with_as_many_calls_at_once_as_workflows_runs_by_default():
    """process_concurrency defaults to 20, the most branches one parallel step runs at once."""
    text = PASS1.read_text()
    assert '${default(map.get(args, "process_concurrency"), 20)}' in text
