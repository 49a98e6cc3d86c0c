"""RE2 and RFC 9535 JSONPath for the success rules of ``assertions``, in a module of
their own so that a process imports the two libraries only when a ``body_regex`` or
``json_path`` rule is first parsed or judged (``assertions._engines``).

User patterns run on RE2 (linear time, no backtracking); JSONPath's ``match()`` and
``search()`` use it too. Compiled patterns and paths are cached and shared by every
worker thread.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonpath
import re2
from jsonpath.function_extensions import ExpressionType, FilterFunction
from jsonpath.token import TOKEN_DDOT

__all__ = ["RegexError", "PathError", "regex", "path"]

RegexError = re2.error
PathError = jsonpath.JSONPathError


@functools.lru_cache(maxsize=1024)
def regex(pattern: str) -> Any:
    """RE2-compiled ``pattern``; ``RegexError`` when RE2 cannot take it."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


class _Re2Function(FilterFunction):
    """JSONPath's ``match()`` (whole string) and ``search()``, on RE2."""

    arg_types = [ExpressionType.VALUE, ExpressionType.VALUE]
    return_type = ExpressionType.LOGICAL

    def __init__(self, whole: bool):
        self.whole = whole

    def __call__(self, value: object, pattern: object) -> bool:
        if not isinstance(value, str) or not isinstance(pattern, str):
            return False
        try:
            compiled = regex(pattern)
        except RegexError:
            return False     # RFC 9535: a pattern that is not valid matches nothing
        found = compiled.fullmatch(value) if self.whole else compiled.search(value)
        return found is not None


class _JsonPathEnvironment(jsonpath.JSONPathEnvironment):
    def setup_function_extensions(self) -> None:
        super().setup_function_extensions()
        self.function_extensions["match"] = _Re2Function(whole=True)
        self.function_extensions["search"] = _Re2Function(whole=False)


# Strict: RFC 9535 as written, none of the library's extensions. No filter caching:
# compiled paths are shared by every worker thread.
_JSONPATH = _JsonPathEnvironment(strict=True, filter_caching=False)


@functools.lru_cache(maxsize=1024)
def path(query: str) -> jsonpath.JSONPath | jsonpath.CompoundJSONPath:
    """The compiled RFC 9535 ``query``; ``PathError`` when it does not parse."""
    tokens = _JSONPATH.lexer.tokenize(query)
    if sum(token.kind == TOKEN_DDOT for token in tokens) > 1:
        raise PathError("the descendant segment '..' may appear only once", token=None)
    return _JSONPATH.compile(query)
