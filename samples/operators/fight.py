"""Two controllers fighting over a Deployment's ``spec.replicas``.

``--role operator`` (actor ``widget-operator``) keeps each Widget's Deployment at
``spec.replicas`` and watches the Deployments it owns. ``--role scaler`` (actor
``replica-scaler``, think of an autoscaler) keeps every Deployment the Widget operator
manages at ``SCALED_REPLICAS``. Each one's write is a watch event for the other, which
writes its own value back: a fight with no end. With ``--fixed`` the operator sets replicas
only when it creates the Deployment and leaves them to the scaler afterwards.

Run both: ``python -m samples.operators.fight --role operator [--fixed] ...`` and
``python -m samples.operators.fight --role scaler ...`` (the usual operator options).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``samples`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kubernetes.client.exceptions import ApiException

from samples.operators import children, runtime, widget

ROLES = {"operator": "widget-operator", "scaler": "replica-scaler"}
SCALED_REPLICAS = 4
MANAGED_BY = ("app.kubernetes.io/managed-by", "widget-operator")


def reconcile_widget(ctx: runtime.Context, name: str) -> str:
    owner = runtime.get_widget(ctx, name)
    if owner is None:
        return "gone; nothing to do"
    done = [
        children.ensure_config_map(ctx, owner),
        # The bug (without --fixed): the operator insists on spec.replicas, undoing the
        # scaler's change, which the scaler undoes in turn.
        children.ensure_deployment(ctx, owner, manage_replicas=not ctx.options.fixed),
    ]
    generation = owner["metadata"].get("generation", 0)
    if (owner.get("status") or {}).get("observedGeneration") != generation:
        runtime.patch_widget_status(ctx, name, {"observedGeneration": generation})
        done.append("status written")
    return "; ".join(item for item in done if item) or "up to date"


def reconcile_deployment(ctx: runtime.Context, name: str) -> str:
    try:
        deployment = ctx.apps.read_namespaced_deployment(name, ctx.options.namespace)
    except ApiException as error:
        if error.status == 404:
            return "gone; nothing to do"
        raise
    labels = (deployment.metadata.labels if deployment.metadata else None) or {}
    if labels.get(MANAGED_BY[0]) != MANAGED_BY[1] or deployment.spec is None:
        return "not a Widget's Deployment"
    if deployment.spec.replicas == SCALED_REPLICAS:
        return "up to date"
    patch = {"spec": {"replicas": SCALED_REPLICAS}}
    ctx.apps.patch_namespaced_deployment(name, ctx.options.namespace, patch)
    return f"scaled from {deployment.spec.replicas} to {SCALED_REPLICAS}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--role", choices=sorted(ROLES), default="operator")
    known, rest = parser.parse_known_args(argv)
    name, doc = ROLES[known.role], __doc__ or ""
    if known.role == "scaler":
        return runtime.main(
            name, doc, reconcile_deployment, rest, kind="Deployment",
            sources=(runtime.DEPLOYMENTS,),
        )  # fmt: skip
    sources = (runtime.WIDGETS, runtime.OWNED_DEPLOYMENTS)
    return runtime.main(name, doc, reconcile_widget, rest, kind=widget.KIND, sources=sources)


if __name__ == "__main__":
    sys.exit(main())
