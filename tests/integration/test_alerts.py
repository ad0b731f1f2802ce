"""deploy/prometheus/alerts.yaml: every metric an alert uses is one the services expose, and
every alert says what to do (in the file and in deploy/README.md)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def exposed() -> set[str]:
    """Every sample name the services' metrics can have (their modules imported here, so
    their families are in this process's registry, as in each service's)."""
    for module in ("fieldcrew_shared.metrics", "fieldcrew_aggregator.metrics",
                   "fieldcrew_photos.metrics", "fieldcrew_gateway.metrics"):  # fmt: skip
        importlib.import_module(module)
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_metric_an_alert_uses_is_exposed() -> None:
    names = exposed()
    used = set()
    for rule in rules():
        metrics = set(re.findall(r"\b(fieldcrew_[a-z_]+)\b", str(rule["expr"])))
        assert metrics or str(rule["expr"]).startswith("up{"), rule["alert"]  # Prometheus' own
        used |= metrics
    assert used - names == set()
    # the alerts cover what the runbook promises: lag, dead letters, 5xx, readiness
    for needed in ("fieldcrew_projection_consumer_pending_messages",
                   "fieldcrew_projection_dead_letters_stored", "fieldcrew_http_requests_total",
                   "fieldcrew_ready"):  # fmt: skip
        assert needed in used


def test_every_alert_says_what_to_do() -> None:
    runbook = (ROOT / "deploy" / "README.md").read_text()
    for rule in rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"] and len(annotations["runbook"]) > 80, rule["alert"]
        assert f"`{rule['alert']}`" in runbook, f"{rule['alert']} is not in deploy/README.md"
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", "0s")))
