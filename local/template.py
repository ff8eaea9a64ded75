"""Reads template.yaml: table definitions (so local tables are the deployed ones) and the API routes of each function."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .paths import ROOT

TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation tags (!Ref, !Sub, !GetAtt…) as plain {tag: value} data."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@lru_cache(maxsize=1)
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in load()["Resources"].items() if res["Type"] == kind}


def tables() -> dict[str, dict[str, Any]]:
    return {name: res["Properties"] for name, res in resources("AWS::DynamoDB::Table").items()}


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    code_uri: str
    handler: str
    routes: tuple[tuple[str, str], ...]  # (METHOD, path)
    properties: dict[str, Any]

    @property
    def module(self) -> str:
        # Functions run by the Lambda Web Adapter have a script as Handler; GW_APP_MODULE names their ASGI module.
        variables = (self.properties.get("Environment") or {}).get("Variables") or {}
        return str(variables.get("GW_APP_MODULE") or self.handler.rsplit(".", 1)[0])

    @property
    def python_handler(self) -> str:
        """``module.attr`` of the Python Lambda handler (for Web Adapter functions: their app module's Mangum handler)."""
        return f"{self.module}.handler" if self.handler.endswith(".sh") else self.handler


def fastapi_path(path: str) -> str:
    """API Gateway's greedy parameter ``{name+}`` (it matches slashes: model ids are ``vendor/model``) is FastAPI's
    ``{name:path}``."""
    return re.sub(r"\{(\w+)\+\}", r"{\1:path}", path)


def functions() -> list[FunctionDef]:
    out = []
    for name, res in resources("AWS::Serverless::Function").items():
        props = res["Properties"]
        routes = tuple(
            (event["Properties"]["Method"].upper(), fastapi_path(event["Properties"]["Path"]))
            for event in (props.get("Events") or {}).values()
            if event["Type"] == "Api"
        )
        out.append(FunctionDef(name, props["CodeUri"], props["Handler"], routes, props))
    return out


def http_functions() -> list[FunctionDef]:
    return [f for f in functions() if f.routes]
