"""Widget operator with a conflict storm: it retries a stale update without reading again.

Each reconcile records progress in the Widget's status, which bumps its resourceVersion,
then stamps a spec-hash annotation by PUTting the copy it read at the start. That copy is
stale, so the PUT gets 409 Conflict, and the retry loop sends the same stale copy again
until it gives up. With ``--fixed`` the retry reads the Widget again first.

Run: ``python -m samples.operators.conflicts [--fixed] [--until-idle S] [--record DB --session ID]``
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``samples`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kubernetes.client.exceptions import ApiException

from samples.operators import children, runtime, widget

NAME = "widget-conflicts"
HASH_ANNOTATION = "demo.kreplay.dev/spec-hash"
MAX_RETRIES = 5


def desired_status(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "observedGeneration": owner["metadata"].get("generation", 0),
        "configMap": f"{owner['metadata']['name']}-config",
        "phase": "Ready",
    }


def annotated(owner: dict[str, Any]) -> dict[str, Any]:
    """A copy of the Widget carrying the current spec hash."""
    result = copy.deepcopy(owner)
    annotations = result["metadata"].setdefault("annotations", {})
    annotations[HASH_ANNOTATION] = widget.spec_hash(owner)
    return result


def replace_widget(ctx: runtime.Context, body: dict[str, Any]) -> None:
    name = body["metadata"]["name"]
    ctx.custom.replace_namespaced_custom_object(
        widget.GROUP, widget.VERSION, ctx.options.namespace, widget.PLURAL, name, body
    )


def stamp_with_retries(ctx: runtime.Context, owner: dict[str, Any]) -> int:
    """PUT the annotated Widget, retrying conflicts; returns how many conflicts it met."""
    body = annotated(owner)
    for attempt in range(MAX_RETRIES + 1):
        try:
            replace_widget(ctx, body)
            return attempt
        except ApiException as error:
            if error.status != 409 or attempt == MAX_RETRIES:
                raise
        if ctx.options.fixed:
            fresh = runtime.get_widget(ctx, owner["metadata"]["name"])
            if fresh is None:
                return attempt + 1
            body = annotated(fresh)
        # The bug (without --fixed): ``body`` keeps its stale resourceVersion, so every
        # retry is refused again.
    return MAX_RETRIES


def reconcile(ctx: runtime.Context, name: str) -> str:
    owner = runtime.get_widget(ctx, name)
    if owner is None:
        return "gone; nothing to do"
    done = [children.ensure_config_map(ctx, owner)]
    status = desired_status(owner)
    current = owner.get("status")
    if not isinstance(current, dict):
        current = {}
    if any(current.get(key) != value for key, value in status.items()):
        if not runtime.patch_widget_status(ctx, name, status):
            return "gone before its status was written"
        done.append("status written")
    annotations = owner["metadata"].get("annotations") or {}
    if annotations.get(HASH_ANNOTATION) != widget.spec_hash(owner):
        conflicts = stamp_with_retries(ctx, owner)
        done.append(f"annotated after {conflicts} conflict(s)")
    return "; ".join(item for item in done if item) or "up to date"


def main(argv: list[str] | None = None) -> int:
    return runtime.main(NAME, __doc__ or NAME, reconcile, argv)


if __name__ == "__main__":
    sys.exit(main())
