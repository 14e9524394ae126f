"""Checks of request bodies; each failure is a 400 naming the field."""

from __future__ import annotations

import re
from typing import Any

from flask import request

from .errors import bad_request
from .models import PART_TEXT_FIELDS

KEY_RE = re.compile(r"^[A-Z]{4}$")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise bad_request("request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def required_text(body: dict[str, Any], name: str, *, max_length: int = 1000) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{name} is required and must be a non-empty string", field=name)
    if len(value) > max_length:
        raise bad_request(f"{name} is longer than {max_length} characters", field=name)
    return value.strip()


def optional_text(body: dict[str, Any], name: str, *, max_length: int = 500) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string or null", field=name)
    if len(value) > max_length:
        raise bad_request(f"{name} is longer than {max_length} characters", field=name)
    return value.strip() or None


def optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request(f"{name} must be a non-negative integer or null", field=name)
    return value


def tag_names(body: dict[str, Any]) -> list[str]:
    value = body.get("tags", [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise bad_request("tags must be a list of strings", field="tags")
    names = {t.strip().lower() for t in value if t.strip()}
    if any(len(name) > 50 for name in names):
        raise bad_request("a tag is longer than 50 characters", field="tags")
    return sorted(names)


def part_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The validated columns of a part from a create request."""
    fields: dict[str, Any] = {"description": required_text(body, "description")}
    for name in PART_TEXT_FIELDS:
        fields[name] = optional_text(body, name)
    fields["pin_count"] = optional_int(body, "pin_count")
    fields["type_id"] = optional_int(body, "type_id")
    return fields


def part_key(key: str) -> str:
    if not KEY_RE.match(key):
        raise bad_request("a part key is four upper-case letters", key=key)
    return key
