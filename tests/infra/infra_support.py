"""Reading a generated template back (the tests of tests/infra/)."""

from __future__ import annotations

import json
import re
from typing import Any


def template_of(built: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(built.template.read_text())
    return loaded


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = resources_of(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def get_att(resource: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of(template, "AWS::Serverless::Function")


def function_named(template: dict[str, Any], chalice_name: str) -> tuple[str, dict[str, Any]] | None:
    """A function by its Chalice name (`deliver_webhook`), found by its deployed name's suffix."""
    for logical_id, fn in functions(template).items():
        if fn["Properties"]["FunctionName"].endswith(f"-{chalice_name}"):
            return logical_id, fn
    return None


def substituted(value: dict[str, Any]) -> str:
    """An `Fn::Sub` string with every `${Name}` replaced by `<Name>` (so it can be parsed)."""
    text: str = value["Fn::Sub"]
    return re.sub(r"\$\{([^}!]+)\}", r"<\1>", text)
