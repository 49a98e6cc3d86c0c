"""Success rules (a job's ``assertions``, API.md section 7): what must hold of an
answer, beyond its status, for an attempt to succeed.

One class per rule type, named in ``RULES`` by the ``type`` a rule carries. Each
knows its fields (``schema``, which the API's request schema and the OpenAPI
document show), how to read itself from JSON (``parse``: ``BadRequest`` naming
``assertions[i].field``), how to say itself in words (``describe``) and what it saw
when it does not hold (``failure``). ``parse_rules`` is used when a job is written
(API, import) and before every attempt (compiled patterns and paths are cached);
``first_failure`` gives the result's ``error`` for the first rule that fails.

Regular expressions from users (``body_regex``, and JSONPath's ``match()`` and
``search()``) run on RE2, whose matching time grows linearly with the body: no
pattern can stall a worker by backtracking. A JSONPath may use the descendant
segment ``..`` once, which keeps its evaluation linear in the size of the body too.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any, ClassVar

from .errors import BadRequest

__all__ = ["RULES", "MAX_RULES", "Answer", "Rule", "parse_rules", "first_failure"]

MAX_RULES = 20
_MAX_TEXT = 1000        # longest value, pattern or path a rule may hold
_SHOWN = 120            # longest excerpt of a seen value in an error
_MAX_DURATION_MS = 300_000   # timeout_seconds is at most 300


@dataclass
class Answer:
    """What an attempt got, as the rules see it (websocket: the joined messages)."""
    body: bytes
    headers: Mapping[str, str]
    truncated: bool
    duration_ms: int

    @cached_property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @cached_property
    def header_values(self) -> dict[str, str]:
        """Headers by lower-cased name."""
        return {name.lower(): value for name, value in self.headers.items()}

    @cached_property
    def document(self) -> Any:
        """The body parsed as JSON, or ``NOT_JSON``."""
        try:
            return json.loads(self.text)
        except (ValueError, RecursionError):
            return NOT_JSON


NOT_JSON = object()    # Answer.document of a body that is not JSON


def _shown(value: Any) -> str:
    """A JSON value as an error or a description shows it, cut to a readable length."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


class _Fields:
    """Reads one rule's fields, raising BadRequest that names ``assertions[i].field``."""

    def __init__(self, index: int, raw: Mapping[str, Any], allowed: tuple[str, ...]):
        self.index, self.raw = index, raw
        for name in raw:
            if name not in allowed:
                raise BadRequest(f"Unknown field 'assertions[{index}].{name}'")

    def error(self, name: str, problem: str) -> BadRequest:
        return BadRequest(f"Field 'assertions[{self.index}].{name}' {problem}")

    def text(self, name: str) -> str:
        value = self.raw.get(name)
        if value is None:
            raise self.error(name, "is required")
        if not isinstance(value, str):
            raise self.error(name, "must be a string")
        if not 1 <= len(value) <= _MAX_TEXT:
            raise self.error(name, f"must be 1 to {_MAX_TEXT} characters long")
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.raw.get(name)
        if value is None:
            raise self.error(name, "is required")
        if value not in choices:
            raise self.error(name, f"must be one of: {', '.join(choices)}")
        return value


class Rule(ABC):
    """One success rule. Subclasses set ``type``, ``FIELDS``, ``REQUIRED`` and, when a
    body cut at the cap cannot decide their failure, ``reads_body = False``."""

    type: ClassVar[str]
    FIELDS: ClassVar[dict[str, Any]]        # JSON Schema of each field but ``type``
    REQUIRED: ClassVar[tuple[str, ...]]
    reads_body: ClassVar[bool] = True       # a body cut at the cap may decide a failure

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The JSON Schema of this rule type (one variant of the ``assertions`` items)."""
        words = "".join(part.capitalize() for part in cls.type.split("_"))
        return {"title": f"{words}Rule", "type": "object",
                "description": inspect.cleandoc(cls.__doc__ or ""),
                "properties": {"type": {"const": cls.type}, **cls.FIELDS},
                "required": ["type", *cls.REQUIRED], "additionalProperties": False}

    @classmethod
    @abstractmethod
    def parse(cls, fields: _Fields) -> Rule:
        """The rule from its JSON fields; BadRequest naming the first bad one."""

    @abstractmethod
    def describe(self) -> str:
        """The rule in words: ``body contains "ok"``, ``$.status == "ok"``."""

    @abstractmethod
    def failure(self, answer: Answer) -> str | None:
        """``None`` when the rule holds, else what was seen instead."""


_VALUE_TEXT = {"type": "string", "minLength": 1, "maxLength": _MAX_TEXT}


@dataclass(frozen=True)
class _TextRule(Rule):
    """A rule with one text ``value``: the body rules."""
    value: str
    FIELDS: ClassVar[dict[str, Any]] = {"value": _VALUE_TEXT}
    REQUIRED: ClassVar[tuple[str, ...]] = ("value",)

    @classmethod
    def parse(cls, fields: _Fields) -> Rule:
        return cls(fields.text("value"))


class BodyContains(_TextRule):
    """The body (websocket: the joined messages) contains ``value`` as plain text."""
    type: ClassVar[str] = "body_contains"

    def describe(self) -> str:
        return f"body contains {_shown(self.value)}"

    def failure(self, answer: Answer) -> str | None:
        return None if self.value in answer.text else "not found"


class BodyNotContains(_TextRule):
    """The body (websocket: the joined messages) does not contain ``value``."""
    type: ClassVar[str] = "body_not_contains"
    reads_body: ClassVar[bool] = False    # what was found is in the part received

    def describe(self) -> str:
        return f"body does not contain {_shown(self.value)}"

    def failure(self, answer: Answer) -> str | None:
        return "found" if self.value in answer.text else None


def _engines() -> ModuleType:
    """RE2 and JSONPath, imported when a rule first needs them (``assertion_engines``):
    the serving process validates rules only when a job is written and evaluates none,
    and the two libraries cost it several MiB of resident memory."""
    from . import assertion_engines

    return assertion_engines


def _regex_problem(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


class BodyRegex(_TextRule):
    """A search for the RE2 regular expression ``value`` in the body finds a match
    (no backreferences or lookaround: RE2 matches in linear time)."""
    type: ClassVar[str] = "body_regex"

    @classmethod
    def parse(cls, fields: _Fields) -> Rule:
        pattern = fields.text("value")
        engines = _engines()
        try:
            engines.regex(pattern)
        except engines.RegexError as exc:
            raise fields.error("value", "is not a regular expression RE2 accepts: "
                               + _regex_problem(exc)) from None
        return cls(pattern)

    def describe(self) -> str:
        shown = self.value if len(self.value) <= _SHOWN else self.value[:_SHOWN - 1] + "…"
        return f"body matches /{shown}/"

    def failure(self, answer: Answer) -> str | None:
        return None if _engines().regex(self.value).search(answer.text) else "no match"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but 1 != "1" and 1 != true."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return bool(a == b)


def _contains(container: Any, value: Any) -> bool:
    """A string in a string, an element of an array, a key of an object."""
    if isinstance(container, str):
        return isinstance(value, str) and value in container
    if isinstance(container, list):
        return any(_same(item, value) for item in container)
    if isinstance(container, dict):
        return isinstance(value, str) and value in container
    return False


def _ordered(op: str, got: Any, value: Any) -> bool:
    """``got op value`` for two numbers or two strings; False for anything else."""
    kinds = {_kind(got), _kind(value)}
    if len(kinds) != 1 or not kinds <= {"number", "string"}:
        return False
    if op == "<":
        return bool(got < value)
    if op == "<=":
        return bool(got <= value)
    if op == ">":
        return bool(got > value)
    return bool(got >= value)


_ORDERING = ("<", "<=", ">", ">=")
_PRESENCE = ("exists", "not_exists")


def _compare(op: str, got: Any, value: Any) -> bool:
    if op == "==":
        return _same(got, value)
    if op == "!=":
        return not _same(got, value)
    if op == "contains":
        return _contains(got, value)
    return _ordered(op, got, value)


def _words(subject: str, op: str, value: Any) -> str:
    if op == "exists":
        return f"{subject} exists"
    if op == "not_exists":
        return f"{subject} does not exist"
    return f"{subject} {op} {_shown(value)}"


def _value_for(fields: _Fields, op: str) -> Any:
    """The ``value`` an ``op`` compares with: absent for exists/not_exists."""
    if op in _PRESENCE:
        if "value" in fields.raw:
            raise fields.error("value", f"must be absent for {op}")
        return None
    if "value" not in fields.raw:
        raise fields.error("value", f"is required for {op}")
    value = fields.raw["value"]
    if op in _ORDERING and _kind(value) not in ("number", "string"):
        raise fields.error("value", f"must be a number or a string for {op}")
    return value


@dataclass(frozen=True)
class JsonPath(Rule):
    """An RFC 9535 JSONPath query on the body parsed as JSON, compared with ``value``
    by ``op``. A query that selects several values compares the array of them.
    ``==``/``!=`` compare JSON values exactly (``5`` is not ``"5"``); ``<``, ``<=``,
    ``>``, ``>=`` hold for two numbers or two strings; ``contains`` holds for a
    substring, an array element or an object key; ``exists``/``not_exists`` take no
    ``value``. A body that is not JSON fails the rule."""
    path: str
    op: str
    value: Any = None
    type: ClassVar[str] = "json_path"
    OPS: ClassVar[tuple[str, ...]] = ("==", "!=", *_ORDERING, "contains", *_PRESENCE)
    FIELDS: ClassVar[dict[str, Any]] = {
        "path": {"type": "string", "minLength": 1, "maxLength": _MAX_TEXT,
                 "examples": ["$.status"]},
        "op": {"enum": list(OPS)},
        "value": {"description": "Any JSON value; absent for exists and not_exists."},
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("path", "op")

    @classmethod
    def parse(cls, fields: _Fields) -> Rule:
        path = fields.text("path")
        if not path.startswith("$"):
            raise fields.error("path", "must be an RFC 9535 JSONPath, starting with $")
        engines = _engines()
        try:
            engines.path(path)
        except (engines.PathError, RecursionError) as exc:
            problem = str(exc).split("\n", 1)[0]
            raise fields.error("path", f"is not an RFC 9535 JSONPath: {problem}") from None
        op = fields.choice("op", cls.OPS)
        return cls(path, op, _value_for(fields, op))

    def describe(self) -> str:
        return _words(self.path, self.op, self.value)

    def failure(self, answer: Answer) -> str | None:
        document = answer.document
        if document is NOT_JSON:
            return "the body is not JSON"
        engines = _engines()
        try:
            found = engines.path(self.path).findall(document)
        except (engines.PathError, RecursionError) as exc:
            return f"cannot evaluate: {str(exc).splitlines()[0]}"
        if self.op == "not_exists":
            return None if not found else f"got {_shown(found[0] if len(found) == 1 else found)}"
        if not found:
            return "nothing at this path"
        got = found[0] if len(found) == 1 else found
        if self.op == "exists" or _compare(self.op, got, self.value):
            return None
        return f"got {_shown(got)}"


@dataclass(frozen=True)
class Header(Rule):
    """A response header (name case-insensitive; websocket: the handshake's) compared
    with ``value`` by ``op`` (case-sensitive)."""
    name: str
    op: str
    value: str | None = None
    type: ClassVar[str] = "header"
    OPS: ClassVar[tuple[str, ...]] = ("==", "!=", "contains", *_PRESENCE)
    FIELDS: ClassVar[dict[str, Any]] = {
        "name": {"type": "string", "minLength": 1, "maxLength": 200,
                 "examples": ["Content-Type"]},
        "op": {"enum": list(OPS)},
        "value": {**_VALUE_TEXT, "description": "Absent for exists and not_exists."},
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "op")
    reads_body: ClassVar[bool] = False

    @classmethod
    def parse(cls, fields: _Fields) -> Rule:
        name = fields.text("name")
        op = fields.choice("op", cls.OPS)
        value = _value_for(fields, op)
        if value is not None:
            value = fields.text("value")
        return cls(name, op, value)

    def describe(self) -> str:
        return _words(f"header {self.name}", self.op, self.value)

    def failure(self, answer: Answer) -> str | None:
        got = answer.header_values.get(self.name.lower())
        if self.op == "not_exists":
            return None if got is None else f"got {_shown(got)}"
        if got is None:
            return "no such header"
        if self.op == "exists" or _compare(self.op, got, self.value):
            return None
        return f"got {_shown(got)}"


@dataclass(frozen=True)
class MaxDuration(Rule):
    """The attempt, from sending to the end of the answer, took less than ``value``
    milliseconds."""
    value: int
    type: ClassVar[str] = "max_duration_ms"
    FIELDS: ClassVar[dict[str, Any]] = {
        "value": {"type": "integer", "minimum": 1, "maximum": _MAX_DURATION_MS}}
    REQUIRED: ClassVar[tuple[str, ...]] = ("value",)
    reads_body: ClassVar[bool] = False

    @classmethod
    def parse(cls, fields: _Fields) -> Rule:
        value = fields.raw.get("value")
        if value is None:
            raise fields.error("value", "is required")
        if not isinstance(value, int) or isinstance(value, bool):
            raise fields.error("value", "must be an integer")
        if not 1 <= value <= _MAX_DURATION_MS:
            raise fields.error("value", f"must be 1 to {_MAX_DURATION_MS}")
        return cls(value)

    def describe(self) -> str:
        return f"takes under {self.value} ms"

    def failure(self, answer: Answer) -> str | None:
        return None if answer.duration_ms < self.value else f"took {answer.duration_ms} ms"


RULES: dict[str, type[Rule]] = {rule.type: rule for rule in (
    BodyContains, BodyNotContains, BodyRegex, JsonPath, Header, MaxDuration)}


def parse_rules(raw: Any) -> list[Rule]:
    """The rules of a job's ``assertions``; BadRequest naming the first bad field."""
    if not isinstance(raw, list):
        raise BadRequest("Field 'assertions' must be an array")
    if len(raw) > MAX_RULES:
        raise BadRequest(f"Field 'assertions' must have at most {MAX_RULES} items")
    rules = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRequest(f"Field 'assertions[{index}]' must be an object")
        kind = item.get("type")
        if kind is None:
            raise BadRequest(f"Field 'assertions[{index}].type' is required")
        rule_type = RULES.get(kind) if isinstance(kind, str) else None
        if rule_type is None:
            raise BadRequest(f"Field 'assertions[{index}].type' must be one of: "
                             + ", ".join(RULES))
        fields = _Fields(index, item, ("type", *rule_type.FIELDS))
        rules.append(rule_type.parse(fields))
    return rules


def first_failure(rules: list[Rule], answer: Answer) -> str | None:
    """The result's ``error`` for the first rule that does not hold, else ``None``."""
    for rule in rules:
        seen = rule.failure(answer)
        if seen is None:
            continue
        if answer.truncated and rule.reads_body:
            seen += (f"; the body was cut at {len(answer.body)} bytes by "
                     "fetch.max_response_bytes")
        return f"assertion failed: {rule.describe()} ({seen})"
    return None
