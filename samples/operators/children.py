"""Create or correct the objects a Widget owns: its ConfigMap and its Deployment."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from samples.operators import widget
from samples.operators.runtime import Context


def ensure_config_map(ctx: Context, owner: dict[str, Any]) -> str:
    """Create the ConfigMap or patch its data; returns what was done ("" when nothing)."""
    desired: Any = widget.config_map_for(owner)
    name = desired["metadata"]["name"]
    namespace = ctx.options.namespace
    try:
        current = ctx.core.read_namespaced_config_map(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        ctx.core.create_namespaced_config_map(namespace, desired)
        return f"created ConfigMap {name}"
    if (current.data or {}) == desired["data"]:
        return ""
    ctx.core.patch_namespaced_config_map(name, namespace, {"data": desired["data"]})
    return f"updated ConfigMap {name}"


def ensure_deployment(ctx: Context, owner: dict[str, Any], manage_replicas: bool = True) -> str:
    """Create the Deployment or patch its replicas and image; returns what was done.

    ``manage_replicas=False`` sets replicas at creation only, leaving them to an autoscaler.
    """
    desired: Any = widget.deployment_for(owner)
    name = desired["metadata"]["name"]
    namespace = ctx.options.namespace
    try:
        current = ctx.apps.read_namespaced_deployment(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
        ctx.apps.create_namespaced_deployment(namespace, desired)
        return f"created Deployment {name}"
    replicas, image, _ = widget.widget_spec(owner)
    if not manage_replicas and current.spec is not None and current.spec.replicas is not None:
        replicas = current.spec.replicas
    pod_spec = current.spec.template.spec if current.spec else None
    containers = (pod_spec.containers if pod_spec else None) or []
    current_image = containers[0].image if containers else ""
    if current.spec.replicas == replicas and current_image == image:
        return ""
    template = desired["spec"]["template"]
    patch = {"spec": {"replicas": replicas, "template": template}}
    ctx.apps.patch_namespaced_deployment(name, namespace, patch)
    return f"updated Deployment {name}"
