"""The metric names a PromQL expression reads, from promql-parser's syntax tree (not a regular expression), and the
expressions of the Grafana dashboard and the Prometheus rules."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"
DASHBOARD = INFRA / "grafana" / "dashboards" / "llmcache.json"
RULES = INFRA / "llmcache-alerts.yml"
# Grafana's variables are not PromQL: replaced by what they stand for before parsing
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$namespace": ".*"}


def metric_names(expression: str) -> set[str]:
    """Every metric name a selector in `expression` reads. Raises ValueError on a syntax error."""
    names: set[str] = set()
    _walk(promql_parser.parse(expression), names)
    return names


def _walk(node: Any, names: set[str]) -> None:
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            names.add(node.name)
        for matcher in node.matchers.matchers:  # {__name__="..."} selects by name too
            if matcher.name == "__name__":
                names.add(matcher.value)
        return
    for child in _children(node):
        _walk(child, names)


def _children(node: Any) -> list[Any]:
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, promql_parser.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, (promql_parser.ParenExpr, promql_parser.SubqueryExpr, promql_parser.UnaryExpr)):
        return [node.expr]
    return []  # number and string literals


def grafana_to_promql(expression: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    leftover = re.findall(r"\$\w+", expression)
    if leftover:
        raise ValueError(f"unknown Grafana variables {leftover} in {expression!r}")
    return expression


def dashboard_expressions(path: Path = DASHBOARD) -> dict[str, str]:
    """'panel title / refId' -> PromQL, Grafana variables replaced."""
    dashboard = json.loads(path.read_text())
    out: dict[str, str] = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out[f"{panel['title']} / {target['refId']}"] = grafana_to_promql(target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query", {})
        text = query.get("query", "") if isinstance(query, dict) else str(query)
        found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", text)
        if found:  # Grafana's label_values(metric, label) is not PromQL: its metric is
            out[f"variable {variable['name']}"] = found.group(1)
    return out


def rule_expressions(path: Path = RULES) -> dict[str, str]:
    rules = yaml.safe_load(path.read_text())
    return {rule.get("alert") or rule["record"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
