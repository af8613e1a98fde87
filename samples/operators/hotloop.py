"""Widget operator with a hot loop: it stamps ``status.lastReconcileTime`` on every reconcile.

Each status write is a MODIFIED event on the Widget it watches, which queues the Widget
again: the operator reconciles forever with nothing changing but the timestamp. With
``--fixed`` it writes status only when the observed generation or the children changed.

Run: ``python -m samples.operators.hotloop [--fixed] [--until-idle S] [--record DB --session ID]``
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``samples`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kubernetes.client.exceptions import ApiException

from samples.operators import children, runtime, widget

NAME = "widget-hotloop"


def desired_status(owner: dict[str, Any]) -> dict[str, Any]:
    replicas, _, _ = widget.widget_spec(owner)
    name = owner["metadata"]["name"]
    return {
        "observedGeneration": owner["metadata"].get("generation", 0),
        "replicas": replicas,
        "configMap": f"{name}-config",
        "phase": "Ready",
    }


def status_is_current(owner: dict[str, Any], status: dict[str, Any]) -> bool:
    current = owner.get("status")
    if not isinstance(current, dict):
        return False
    return all(current.get(key) == value for key, value in status.items())


def reconcile(ctx: runtime.Context, name: str) -> str:
    owner = runtime.get_widget(ctx, name)
    if owner is None:
        return "gone; nothing to do"
    done = [children.ensure_config_map(ctx, owner), children.ensure_deployment(ctx, owner)]
    status = desired_status(owner)
    if ctx.options.fixed and not any(done) and status_is_current(owner, status):
        return "up to date"
    # The bug (without --fixed): this write changes the Widget, whose watch event queues
    # it again, so the next reconcile writes a new timestamp, and so on.
    status["lastReconcileTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        ctx.custom.patch_namespaced_custom_object_status(
            widget.GROUP, widget.VERSION, ctx.options.namespace, widget.PLURAL, name,
            {"status": status},
        )  # fmt: skip
    except ApiException as error:
        if error.status != 404:
            raise
        return "gone before its status was written"
    return "; ".join([*(item for item in done if item), "status written"])


def main(argv: list[str] | None = None) -> int:
    return runtime.main(NAME, __doc__ or NAME, reconcile, argv)


if __name__ == "__main__":
    sys.exit(main())
