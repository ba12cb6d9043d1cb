"""The PromQL metric-name extraction the dashboard check relies on, on expressions written here."""

from __future__ import annotations

import pytest

from tests.infra.promql import grafana_to_promql, metric_names


def test_names_come_from_every_kind_of_node() -> None:
    expression = (
        'sum by (a) (rate(x_total{b="1"}[5m])) / on(a) group_left -max_over_time((y_gauge)[10m:1m])'
        ' or histogram_quantile(0.9, sum by (le) (rate(z_bucket[5m]))) and absent({__name__="w_total"})'
        " > bool 1"
    )
    assert metric_names(expression) == {"x_total", "y_gauge", "z_bucket", "w_total"}


def test_label_names_and_functions_are_not_metrics() -> None:
    assert metric_names('count by (namespace, outcome) (llmcache_requests_total{outcome!="error"})') == {
        "llmcache_requests_total"
    }


def test_a_syntax_error_is_raised() -> None:
    with pytest.raises(ValueError):
        metric_names("sum(rate(x[5m])")


def test_grafana_variables_are_replaced_and_unknown_ones_refused() -> None:
    assert grafana_to_promql('rate(x{n=~"$namespace"}[$__rate_interval])') == 'rate(x{n=~".*"}[5m])'
    with pytest.raises(ValueError, match="tenant"):
        grafana_to_promql('rate(x{t="$tenant"}[5m])')
