"""The expression language inside `${...}`: tokenizer, parser, and compiled evaluators.

Grammar (loosest binding first):

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") sum)*
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "//" | "%") unary)*
    unary   := "-" unary | postfix
    postfix := primary ("." NAME | "[" expr "]" | "(" args ")")*
    primary := NUMBER | STRING | true | false | null | NAME | "(" expr ")" | "[" items "]"

A call is only valid on a dotted name from the standard library (`map.get(...)`); unknown functions,
wrong argument counts, literal arguments of a type the function refuses, map literals and stray
characters are refused when the workflow loads. `and` and `or` short-circuit, so `x != null and x.y`
is safe. A compiled expression also reports the variables it reads (`names`), for the scope rules
the loader checks (validate.py).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from . import operators as ops
from .errors import WorkflowSyntaxError
from .stdlib import FUNCTIONS

Evaluator = Callable[[Any], Any]  # env -> value; env has lookup(name) and runtime

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<number>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>//|==|!=|<=|>=|[-+*/%<>()\[\],.])""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "/": "/", "b": "\b", "f": "\f"}
_COMPARE = {"==", "!=", "<", "<=", ">", ">=", "in"}


def is_expression(text: Any) -> bool:
    return isinstance(text, str) and text.startswith("${") and text.endswith("}")


class Expression:
    """A compiled `${...}`: `evaluate(env)` gives its value; `names` are the variables it reads."""

    def __init__(self, source: str, where: str):
        self.source = source
        parser = _Parser(source, where)
        self._eval = parser.parse()
        self.names: frozenset[str] = parser.names

    def evaluate(self, env: Any) -> Any:
        return self._eval(env)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def compile_expression(text: str, where: str) -> Expression:
    """Compile a whole `${...}` string; `where` names the step for error messages."""
    if not is_expression(text):
        raise WorkflowSyntaxError(f"{where}: not an expression: {text!r}")
    return Expression(text[2:-1], where)


def _unquote(token: str, error: Callable[[str], Exception]) -> str:
    out, i, body = [], 0, token[1:-1]
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            raise error(f"unknown escape \\{nxt} in string {token}")
    return "".join(out)


def _literal(value: Any) -> Evaluator:
    """An evaluator for a constant, marked so that a call can check the constant's type at load."""

    def evaluate(env: Any) -> Any:
        return value

    evaluate.literal = (value,)  # a 1-tuple: the constant may itself be null
    return evaluate


def _variables(tokens: list[tuple[str, Any]]) -> frozenset[str]:
    """Names read as variables: a name not after a '.', unless it starts a dotted call (`map.get(`)."""
    names = set()
    for i, (kind, text) in enumerate(tokens):
        if kind != "name" or (i and tokens[i - 1] == ("op", ".")):
            continue
        j = i + 1
        while tokens[j] == ("op", ".") and tokens[j + 1][0] == "name":
            j += 2
        if tokens[j] != ("op", "("):
            names.add(text)
    return frozenset(names)


def _tokenize(source: str, error: Callable[[str], Exception]) -> list[tuple[str, Any]]:
    tokens, pos = [], 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match:
            brace = source[pos] in "{}"
            hint = " (map literals are not supported in expressions: write the map in YAML)" if brace else ""
            raise error(f"unexpected character {source[pos]!r} at {pos}{hint}")
        kind, text = match.lastgroup, match.group()
        pos = match.end()
        if kind == "ws":
            continue
        if kind == "number":
            tokens.append(("value", float(text) if any(c in text for c in ".eE") else int(text)))
        elif kind == "string":
            tokens.append(("value", _unquote(text, error)))
        elif kind == "name" and text in _KEYWORDS:
            literal = {"true": True, "false": False, "null": None}
            tokens.append(("value", literal[text]) if text in literal else ("op", text))
        else:
            tokens.append((kind, text))
    tokens.append(("end", None))
    return tokens


class _Parser:
    """Recursive descent over the token list, producing nested closures."""

    def __init__(self, source: str, where: str):
        self.source, self.where = source, where
        self.tokens = _tokenize(source, self.error)
        self.names = _variables(self.tokens)
        self.pos = 0

    def error(self, message: str) -> WorkflowSyntaxError:
        return WorkflowSyntaxError(f"{self.where}: expression ${{{self.source}}}: {message}")

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, Any]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, op: str) -> bool:
        if self.peek() == ("op", op):
            self.pos += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.accept(op):
            raise self.error(f"expected {op!r}, found {self.peek()[1]!r}")

    def parse(self) -> Evaluator:
        if self.peek()[0] == "end":
            raise self.error("empty expression")
        result = self.parse_or()
        if self.peek()[0] != "end":
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return result

    def parse_or(self) -> Evaluator:
        left = self.parse_and()
        while self.accept("or"):
            left = _short_circuit("or", left, self.parse_and())
        return left

    def parse_and(self) -> Evaluator:
        left = self.parse_not()
        while self.accept("and"):
            left = _short_circuit("and", left, self.parse_not())
        return left

    def parse_not(self) -> Evaluator:
        if self.accept("not"):
            operand = self.parse_not()
            return lambda env: not ops.boolean(operand(env), "not")
        return self.parse_compare()

    def parse_compare(self) -> Evaluator:
        left = self.parse_sum()
        while self.peek()[0] == "op" and self.peek()[1] in _COMPARE:
            left = _binary(self.take()[1], left, self.parse_sum())
        return left

    def parse_sum(self) -> Evaluator:
        left = self.parse_product()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            left = _binary(self.take()[1], left, self.parse_product())
        return left

    def parse_product(self) -> Evaluator:
        left = self.parse_unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/", "//", "%"):
            left = _binary(self.take()[1], left, self.parse_unary())
        return left

    def parse_unary(self) -> Evaluator:
        if self.accept("-"):
            operand = self.parse_unary()
            constant = getattr(operand, "literal", None)
            if constant and ops.is_number(constant[0]):
                return _literal(-constant[0])
            return lambda env: ops.negate(operand(env))
        return self.parse_postfix()

    def parse_postfix(self) -> Evaluator:
        node, dotted = self.parse_primary()
        while True:
            if self.accept("."):
                kind, name = self.take()
                if kind != "name":
                    raise self.error(f"expected a name after '.', found {name!r}")
                node = _key(node, lambda env, name=name: name)
                dotted = f"{dotted}.{name}" if dotted else None
            elif self.accept("["):
                index = self.parse_or()
                self.expect("]")
                node, dotted = _key(node, index), None
            elif self.peek() == ("op", "("):
                node, dotted = self.parse_call(dotted), None
            else:
                return node

    def parse_call(self, name: str | None) -> Evaluator:
        if name is None:
            raise self.error("only library functions can be called")
        function = FUNCTIONS.get(name)
        if function is None:
            raise self.error(f"unknown function {name}() (supported: {', '.join(sorted(FUNCTIONS))})")
        self.expect("(")
        args = [] if self.accept(")") else self.parse_items(")")
        if not function.min_args <= len(args) <= function.max_args:
            raise self.error(f"{name}() takes {function.min_args}..{function.max_args} arguments, got {len(args)}")
        for position, arg in enumerate(args):
            constant = getattr(arg, "literal", None)
            problem = function.type_error(position, constant[0]) if constant else None
            if problem:
                raise self.error(f"{problem} (Workflows raises this TypeError on every evaluation)")
        return lambda env: function.call(env.runtime, [arg(env) for arg in args])

    def parse_items(self, closing: str) -> list[Evaluator]:
        items = [self.parse_or()]
        while self.accept(","):
            items.append(self.parse_or())
        self.expect(closing)
        return items

    def parse_primary(self) -> tuple[Evaluator, str | None]:
        kind, value = self.take()
        if kind == "value":
            return _literal(value), None
        if kind == "name":
            return (lambda env: env.lookup(value)), value
        if (kind, value) == ("op", "("):
            inner = self.parse_or()
            self.expect(")")
            return inner, None
        if (kind, value) == ("op", "["):
            items = [] if self.accept("]") else self.parse_items("]")
            def build(env: Any) -> list:  # a fresh list each time: values are never shared
                return [item(env) for item in items]

            constants = [getattr(item, "literal", None) for item in items]
            if all(constants):
                build.literal = ([c[0] for c in constants],)
            return build, None
        raise self.error(f"unexpected {value!r}" if kind != "end" else "unexpected end")


def _key(container: Evaluator, key: Evaluator) -> Evaluator:
    return lambda env: ops.get_key(container(env), key(env))


def _short_circuit(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if op == "and":
        return lambda env: ops.boolean(left(env), "and") and ops.boolean(right(env), "and")
    return lambda env: ops.boolean(left(env), "or") or ops.boolean(right(env), "or")


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": ops.add,
    "-": ops.sub,
    "*": ops.mul,
    "/": ops.div,
    "//": ops.floordiv,
    "%": ops.mod,
    "==": ops.equal,
    "!=": lambda a, b: not ops.equal(a, b),
    "in": ops.contains,
    **{op: (lambda a, b, op=op: ops.order(op, a, b)) for op in ("<", "<=", ">", ">=")},
}


def _binary(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    apply = _BINARY[op]
    return lambda env: apply(left(env), right(env))
