"""The official Bot API reference (shared/telegram-bot-api/api.json) as a checker for a bot's calls."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

API_JSON = Path(__file__).resolve().parents[2] / ".." / "shared" / "telegram-bot-api" / "api.json"
LIMIT = re.compile(r"\b(\d+)-(\d+) (characters|bytes)\b")
PRIMITIVES = {
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "InputFile": lambda v: True,
}


class BotApiSpec:
    """Checks a call: the method exists, required fields are there, no unknown ones, types and limits hold."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.version = raw["version"]
        self.methods = raw["methods"]
        self.types = raw["types"]

    def check_call(self, method: str, params: Mapping[str, Any], form_encoded: bool = False) -> list[str]:
        """Every problem with a call; `form_encoded` params are strings with JSON for non-string fields."""
        spec = self.methods.get(method)
        if spec is None:
            return [f"{method}: no such method in {self.version}"]
        return self._check_fields(method, spec.get("fields", []), params, form_encoded)

    def _check_fields(
        self, where: str, fields: list[dict[str, Any]], values: Mapping[str, Any], encoded: bool = False
    ) -> list[str]:
        known = {field["name"]: field for field in fields}
        problems = [f"{where}.{name}: unknown field" for name in values if name not in known]
        problems += [
            f"{where}.{field['name']}: required field missing"
            for field in fields
            if field["required"] and values.get(field["name"]) is None
        ]
        for name, value in values.items():
            if name in known and value is not None:
                problems += self._check_value(f"{where}.{name}", known[name], value, encoded)
        return problems

    def _check_value(self, where: str, field: dict[str, Any], value: Any, encoded: bool) -> list[str]:
        if encoded and isinstance(value, str) and "String" not in field["types"]:
            value = json.loads(value)
        problems = _limit_problems(where, field["description"], value)
        alternatives = [self._matches(where, name, value) for name in field["types"]]
        return problems + (min(alternatives, key=len) if all(alternatives) else [])

    def _matches(self, where: str, type_name: str, value: Any) -> list[str]:
        """Problems with `value` as an instance of `type_name` (empty when it is one)."""
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{where}: expected {type_name}"]
            item_type = type_name.removeprefix("Array of ")
            return [
                p for n, item in enumerate(value) for p in self._matches(f"{where}[{n}]", item_type, item)
            ]
        if type_name in PRIMITIVES:
            return [] if PRIMITIVES[type_name](value) else [f"{where}: expected {type_name}, got {value!r}"]
        spec = self.types.get(type_name)
        if spec is None:
            return [f"{where}: unknown type {type_name}"]
        if "subtypes" in spec:
            options = [self._matches(where, subtype, value) for subtype in spec["subtypes"]]
            return min(options, key=len) if all(options) else []
        if not isinstance(value, dict):
            return [f"{where}: expected {type_name}"]
        return self._check_fields(f"{where}<{type_name}>", spec.get("fields", []), value)


def _limit_problems(where: str, description: str, value: Any) -> list[str]:
    """The documented length limit of a string field ('1-4096 characters', '1-64 bytes')."""
    limit = LIMIT.search(description)
    if limit is None or not isinstance(value, str):
        return []
    low, high, unit = int(limit[1]), int(limit[2]), limit[3]
    size = len(value.encode()) if unit == "bytes" else len(value)
    return [] if low <= size <= high else [f"{where}: {size} {unit}, documented {low}-{high}"]


@cache
def official_spec() -> BotApiSpec:
    """The reference shipped in shared/; a missing file is an error, not a skipped check."""
    if not API_JSON.is_file():
        raise FileNotFoundError(f"Bot API reference not found at {API_JSON.resolve()}")
    return BotApiSpec(json.loads(API_JSON.read_text(encoding="utf-8")))
