"""Request validation with JSON Schema (the same schemas the OpenAPI document shows).

Messages name the offending field and never repeat the value sent (it may be a
password).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..errors import BadRequest

__all__ = ["parse_json", "validator_for", "validate_body", "parse_query", "PAGINATION", "obj"]

_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "boolean": "a boolean",
    "object": "an object", "array": "an array", "number": "a number", "null": "null",
}

# Query parameters every list accepts.
PAGINATION = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100,
              "description": "Page size."},
    "offset": {"type": "integer", "minimum": 0, "default": 0,
               "description": "Items to skip."},
}


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed JSON object schema: unknown fields are refused."""
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# NUL and unpaired surrogates (JSON can spell both with \u escapes) parse fine but
# cannot be stored (PostgreSQL refuses NUL, UTF-8 refuses lone surrogates).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> tuple[str, str] | None:
    """The field path and problem of the first value that cannot be stored or shown:
    a string (or key) with NUL or a lone surrogate, or a number past a double (1e400
    parses as infinity, which no JSON can spell back)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return path, "contains a NUL or unpaired surrogate character"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return path, "holds a number too large for JSON"
        elif isinstance(item, dict):
            for key, child in item.items():
                if _UNSTORABLE.search(key):
                    return path, "contains a NUL or unpaired surrogate character"
                stack.append((child, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def parse_json(raw: bytes) -> Any:
    """Strict JSON (no NaN or Infinity, no NUL or lone surrogates in strings, no
    number past a double); BadRequest when it does not parse."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("Malformed JSON body") from None
    problem = _unstorable(value)
    if problem is not None:
        field, what = problem
        raise BadRequest(f"{f'Field {field!r}' if field else 'Request body'} {what}")
    return value


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """Compile a schema once (routes keep the result). Whether each route's schema is
    itself valid is checked by the tests, not at every start."""
    return Draft202012Validator(schema)


def _field_name(error: ValidationError) -> str:
    name = ""
    for part in error.absolute_path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _type_words(expected: Any) -> str:
    kinds = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_WORDS.get(kind) or str(kind) for kind in kinds)


def _message(error: ValidationError, what: str) -> str:
    field = _field_name(error)
    subject = f"{what} '{field}'" if field else ("Request body" if what == "Field" else what)
    keyword, expected = error.validator, error.validator_value
    if keyword == "required":
        missing = next((name for name in expected if name not in error.instance), "?")
        prefix = f"{field}." if field else ""
        return f"{what} '{prefix}{missing}' is required"
    if keyword == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(name for name in error.instance if name not in allowed)
        prefix = f"{field}." if field else ""
        return f"Unknown {what.lower()} '{prefix}{extra[0] if extra else '?'}'"
    if keyword == "type":
        return f"{subject} must be {_type_words(expected)}"
    if keyword == "minLength":
        return f"{subject} must be at least {expected} characters long"
    if keyword == "maxLength":
        return f"{subject} must be at most {expected} characters long"
    if keyword == "minimum":
        return f"{subject} must be at least {expected}"
    if keyword == "maximum":
        return f"{subject} must be at most {expected}"
    if keyword == "enum":
        return f"{subject} must be one of: {', '.join(map(str, expected))}"
    if keyword == "minItems":
        return f"{subject} must have at least {expected} items"
    if keyword == "maxItems":
        return f"{subject} must have at most {expected} items"
    if keyword in ("minProperties", "maxProperties"):
        return f"{subject} has too {'few' if keyword == 'minProperties' else 'many'} entries"
    description = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    return f"{subject} {description or 'is invalid'}"


def _discriminated(error: ValidationError) -> ValidationError:
    """For a ``oneOf`` with a ``discriminator``, the error of the variant the value's
    discriminating property names (else of that property), not of whichever variant
    looks closest: ``{"type": "json_path", "op": "=="}`` is told that its ``path`` is
    missing, not that ``type`` should have been ``body_contains``."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator != "oneOf" or "discriminator" not in schema:
        return error
    path = list(error.absolute_path)
    if not isinstance(error.instance, dict):
        return ValidationError("", validator="type", validator_value="object",
                               instance=error.instance, path=path)
    name = schema["discriminator"]["propertyName"]
    if name not in error.instance:
        return ValidationError("", validator="required", validator_value=[name],
                               instance=error.instance, path=path)
    consts = [variant.get("properties", {}).get(name, {}).get("const")
              for variant in error.validator_value]
    if error.instance[name] not in consts:
        return ValidationError("", validator="enum", validator_value=consts,
                               instance=error.instance[name], path=[*path, name])
    index = consts.index(error.instance[name])
    chosen = [e for e in error.context or () if e.relative_schema_path[0] == index]
    return best_match(_discriminated(e) for e in chosen) or error


def validate_body(validator: Draft202012Validator, value: Any) -> Any:
    """Return ``value`` if it satisfies the validator's schema, else raise BadRequest."""
    error = best_match(_discriminated(e) for e in validator.iter_errors(value))
    if error is not None:
        raise BadRequest(_message(error, "Field"))
    return value


_INT = re.compile(r"^-?[0-9]{1,18}$")


def parse_query(validator: Draft202012Validator, raw: Mapping[str, str]) -> dict[str, Any]:
    """Convert query strings by the declared types, validate, fill defaults.

    Parameters the schema does not name are ignored (cache busters and the like).
    """
    values: dict[str, Any] = {}
    properties = validator.schema["properties"]
    for name, prop in properties.items():
        if name not in raw:
            if "default" in prop:
                values[name] = prop["default"]
            continue
        text = raw[name]
        kind = prop.get("type")
        if kind == "integer":
            if not _INT.match(text):
                raise BadRequest(f"Query parameter '{name}' must be an integer")
            values[name] = int(text)
        elif kind == "boolean":
            if text not in ("true", "false"):
                raise BadRequest(f"Query parameter '{name}' must be true or false")
            values[name] = text == "true"
        else:
            values[name] = text
    error = best_match(validator.iter_errors(values))
    if error is not None:
        raise BadRequest(_message(error, "Query parameter"))
    return values
