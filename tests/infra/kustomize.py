"""A small renderer of the kustomize subset infra/k8s uses (resources, namespace, labels, images, strategic-merge
patches by kind and name), so that every overlay can be validated without a kustomize binary. A field outside the
subset fails loudly instead of being ignored."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: kustomization fields this renderer does not support: {sorted(unknown)}")
    documents: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        target = directory / resource
        documents += build(target) if target.is_dir() else load_documents(target)
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{directory}: only file patches are supported, not {patch}")
        for document in load_documents(directory / patch["path"]):
            _apply_patch(documents, document, directory / patch["path"])
    for group in kustomization.get("labels", []):
        for document in documents:
            document.setdefault("metadata", {}).setdefault("labels", {}).update(group["pairs"])
    for image in kustomization.get("images", []):
        for container in _containers(documents):
            if container.get("image", "").split(":")[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if "namespace" in kustomization:
        for document in documents:
            if document["kind"] not in CLUSTER_SCOPED:
                document["metadata"]["namespace"] = kustomization["namespace"]
    return documents


def _containers(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        container
        for document in documents
        if document["kind"] in POD_TEMPLATE_KINDS
        for container in document["spec"]["template"]["spec"].get("containers", [])
    ]


def _apply_patch(documents: list[dict[str, Any]], patch: dict[str, Any], where: Path) -> None:
    kind, name = patch["kind"], patch["metadata"]["name"]
    matches = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    if len(matches) != 1:
        raise ValueError(f"{where}: patch targets {patch['kind']}/{patch['metadata']['name']}, found {len(matches)}")
    merged = _merge(matches[0], patch)
    matches[0].clear()
    matches[0].update(merged)


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as far as these patches need it: maps merge, lists of named maps merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i for i in patch):
        out_list = copy.deepcopy(base)
        for item in patch:
            same = [i for i, existing in enumerate(out_list) if existing.get("name") == item["name"]]
            if same:
                out_list[same[0]] = _merge(out_list[same[0]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)
