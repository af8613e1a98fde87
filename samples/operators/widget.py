"""The ``Widget`` custom resource of the sample operators, and builders of the objects it owns.

A Widget (``demo.kreplay.dev/v1``, namespaced) asks for a Deployment of ``spec.image`` with
``spec.replicas`` replicas and a ConfigMap holding ``spec.message``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GROUP = "demo.kreplay.dev"
VERSION = "v1"
KIND = "Widget"
PLURAL = "widgets"
CRD_NAME = f"{PLURAL}.{GROUP}"
API_VERSION = f"{GROUP}/{VERSION}"

MAX_REPLICAS = 100
DEFAULT_IMAGE = "nginx:1.27"


def crd_manifest() -> dict[str, Any]:
    """The CustomResourceDefinition of Widget, with a status subresource."""
    spec_schema = {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "minimum": 0, "maximum": MAX_REPLICAS},
            "image": {"type": "string"},
            "message": {"type": "string"},
        },
    }
    schema = {
        "type": "object",
        "properties": {
            "spec": spec_schema,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "plural": PLURAL,
                "singular": "widget",
                "listKind": "WidgetList",
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def widget_manifest(name: str, namespace: str, replicas: int, message: str) -> dict[str, Any]:
    """A Widget as a user would apply it."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "image": DEFAULT_IMAGE, "message": message},
    }


def widget_spec(widget: dict[str, Any]) -> tuple[int, str, str]:
    """(replicas, image, message) of a Widget, validated: it comes from the cluster."""
    spec = widget.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or not 0 <= replicas <= MAX_REPLICAS:
        replicas = 1
    image = spec.get("image")
    message = spec.get("message")
    return (
        replicas,
        image if isinstance(image, str) and image else DEFAULT_IMAGE,
        message if isinstance(message, str) else "",
    )


def spec_hash(widget: dict[str, Any]) -> str:
    """A short, stable digest of the spec, for annotations."""
    text = json.dumps(widget_spec(widget), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def owner_reference(widget: dict[str, Any]) -> dict[str, Any]:
    metadata = widget.get("metadata") or {}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": str(metadata.get("name", "")),
        "uid": str(metadata.get("uid", "")),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def config_map_for(widget: dict[str, Any]) -> dict[str, Any]:
    name = str(widget["metadata"]["name"])
    _, _, message = widget_spec(widget)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{name}-config",
            "labels": {"app.kubernetes.io/managed-by": "widget-operator", "widget": name},
            "ownerReferences": [owner_reference(widget)],
        },
        "data": {"message": message},
    }


def deployment_for(widget: dict[str, Any]) -> dict[str, Any]:
    name = str(widget["metadata"]["name"])
    replicas, image, _ = widget_spec(widget)
    labels = {"app.kubernetes.io/managed-by": "widget-operator", "widget": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "ownerReferences": [owner_reference(widget)]},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"widget": name}},
            "template": {
                "metadata": {"labels": {"widget": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/widget"}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
                },
            },
        },
    }
