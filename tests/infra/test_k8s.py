"""The Kubernetes manifests, checked without a cluster: each overlay rendered (tests/infra/kustomize.py), every
core object validated against the Kubernetes JSON schemas (the `kubernetes-validate` package, strict: an unknown
field fails), KEDA's ScaledObject against its CRD schema (vendored), and what the schemas cannot say."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from llmcache.workers.app import QUEUES
from tests.infra.kustomize import build, load_documents

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")  # the oldest release still supported upstream here, and the newest
KEDA_SCHEMA = json.loads((ROOT / "tests/data/schemas/keda-scaledobject-v1alpha1.json").read_text())
PRIORITY_STEPS = range(10)  # llmcache.workers.app: kombu's priority lists llm, llm:1 .. llm:9


def rendered(overlay: str) -> list[dict[str, Any]]:
    return build(K8S / "overlays" / overlay)


def by_kind(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_there_are_overlays() -> None:
    assert {"dry-run", "production"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid(overlay: str) -> None:
    problems = []
    for document in rendered(overlay):
        name = f"{document['kind']}/{document['metadata']['name']}"
        if document["apiVersion"].startswith("keda.sh/"):
            validator = jsonschema.Draft7Validator(KEDA_SCHEMA)
            problems += [f"{name}: {e.message}" for e in validator.iter_errors(document)]
            continue
        for kubernetes in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(document, kubernetes, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{name} (Kubernetes {kubernetes}): {error.message}")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_misspelt_field() -> None:
    worker = by_kind(rendered("production"), "Deployment", "worker")
    worker["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, KUBERNETES_VERSIONS[-1], strict=True)
    scaled = by_kind(rendered("production"), "ScaledObject", "worker")
    scaled["spec"]["maxReplicas"] = 3
    assert list(jsonschema.Draft7Validator(KEDA_SCHEMA).iter_errors(scaled))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_the_workers_on_every_priority_list_of_the_llm_queue(overlay: str) -> None:
    documents = rendered(overlay)
    config = by_kind(documents, "ConfigMap", "llmcache-config")["data"]
    prefix = config["LLMCACHE_KEY_PREFIX"]
    scaled = by_kind(documents, "ScaledObject", "worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "worker"
    by_deployment = by_kind(documents, "Deployment", "worker")
    assert by_deployment["metadata"]["name"] == scaled["scaleTargetRef"]["name"]
    lists = {t["metadata"]["listName"]: t["name"] for t in scaled["triggers"] if t["type"] == "redis"}
    expected = {f"{prefix}:celery:llm" + (f":{p}" if p else "") for p in PRIORITY_STEPS}
    assert set(lists) == expected
    formula = scaled["advanced"]["scalingModifiers"]["formula"]
    assert set(re.findall(r"\w+", formula)) == set(lists.values())  # the sum of every list
    redis_host = config["LLMCACHE_REDIS_URL"].split("//")[1].split("/")[0]
    assert {t["metadata"]["address"] for t in scaled["triggers"]} == {redis_host}
    assert set(QUEUES) <= {"llm", "maintenance", "metrics"}, (
        f"llmcache.workers.app.QUEUES gained {set(QUEUES) - {'llm', 'maintenance', 'metrics'}}: scale the workers on "
        "it too"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_roles_resources_and_scraping(overlay: str) -> None:
    documents = rendered(overlay)
    beat = by_kind(documents, "Deployment", "beat")["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    metrics = by_kind(documents, "Deployment", "metrics")["spec"]
    assert metrics["replicas"] == 1
    annotations = metrics["template"]["metadata"]["annotations"]
    port = next(p["containerPort"] for p in metrics["template"]["spec"]["containers"][0]["ports"])
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
    config = by_kind(documents, "ConfigMap", "llmcache-config")["data"]
    assert config["LLMCACHE_WORKERS__METRICS_HOST"] == "0.0.0.0"
    assert config["QDRANT_URL"].startswith("http://qdrant:")
    qdrant = by_kind(documents, "StatefulSet", "qdrant")["spec"]["template"]["spec"]["containers"][0]
    assert qdrant["image"] == f"qdrant/qdrant:v{version('qdrant-client')}"
    for document in documents:
        if document["kind"] in ("Deployment", "StatefulSet"):
            for container in document["spec"]["template"]["spec"]["containers"]:
                resources = container.get("resources", {})
                assert {"cpu", "memory"} <= set(resources.get("requests", {})), document["metadata"]["name"]
                assert "memory" in resources.get("limits", {}), document["metadata"]["name"]
                envs = {next(iter(ref.values()))["name"] for ref in container.get("envFrom", [])}
                if container.get("image", "").split(":")[0].endswith("llmcache") and container["name"] != "emulator":
                    assert envs == {"llmcache-config", "llmcache-secrets"}, document["metadata"]["name"]


def test_the_worker_requests_say_where_they_come_from() -> None:
    text = (K8S / "base" / "worker.yaml").read_text()
    assert "measurement" in text and "RSS" in text and "CPU s per 1,000" in text


def test_the_servicemonitor_selects_the_metrics_service() -> None:
    (monitor,) = load_documents(K8S / "overlays" / "production" / "servicemonitor.yaml")
    service = by_kind(rendered("production"), "Service", "metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_secret_holds_no_key() -> None:
    secret = yaml.safe_load((K8S / "base" / "secret.yaml").read_text())
    assert all(value == "" for value in secret["stringData"].values())
