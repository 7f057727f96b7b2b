"""Where the shipped deployment files are, and how to read them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DEPLOY = EXAMPLES / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of ``path``."""
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def kubernetes_objects() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object shipped under examples/deploy/kubernetes/."""
    out = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        out.extend((path, doc) for doc in load_yaml_documents(path))
    return out


def embedded_collector_configs() -> list[tuple[str, str]]:
    """Collector configs carried inside Kubernetes ConfigMaps: (label, yaml text)."""
    out = []
    for path, obj in kubernetes_objects():
        if obj.get("kind") != "ConfigMap":
            continue
        for key, text in (obj.get("data") or {}).items():
            if key.endswith((".yaml", ".yml")):
                out.append((f"{path.name}:{obj['metadata']['name']}/{key}", text))
    return out


def collector_config_texts() -> list[tuple[str, str]]:
    """Every shipped Collector configuration: (label, yaml text)."""
    files = [ROOT / "collector-config.yaml", *sorted((EXAMPLES / "collector").glob("*.yaml"))]
    texts = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in files]
    return texts + embedded_collector_configs()
