"""What every sample operator shares: its command line, its client, its CRD and its watch loop.

The command line is a contract (``kreplay live`` re-runs these operators against recordings):
``--namespace NS``, ``--fixed``, ``--until-idle SECONDS``, ``--max-reconciles N`` and
``--record DB --session ID``. The client comes from the default config (``KUBECONFIG`` or
``~/.kube/config``, else in-cluster), so a replaying server needs no operator change.

Concurrency: one daemon thread follows the watch and feeds a bounded queue; the main thread
de-duplicates queued names and reconciles them one at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from samples.operators import widget

log = logging.getLogger("samples.operators")

QUEUE_SIZE = 10_000
MAX_LIST_ITEMS = 10_000
MAX_RELISTS = 1_000
MAX_WATCH_RESTARTS = 100_000
WATCH_TIMEOUT_SECONDS = 300
MAX_EVENTS_PER_WATCH = 1_000_000  # then watch again from the last resourceVersion
CRD_READY_ATTEMPTS = 200
CRD_READY_INTERVAL = 0.05
DEFAULT_MAX_RECONCILES = 100_000
WATCH_JOIN_SECONDS = 5.0


class OperatorError(Exception):
    """The operator cannot go on (bad configuration, the API refused the CRD)."""


@dataclass(frozen=True)
class Options:
    name: str
    namespace: str
    fixed: bool
    until_idle: float | None
    max_reconciles: int
    record: str | None
    session: str | None


@dataclass
class Context:
    """What a reconcile function gets: the API clients and the options."""

    api_client: client.ApiClient
    options: Options
    custom: client.CustomObjectsApi = field(init=False)
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.custom = client.CustomObjectsApi(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)


Reconcile = Callable[[Context, str], str]


def parse_options(name: str, description: str, argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog=name, description=description)
    parser.add_argument("--namespace", default="default", help="namespace to watch")
    parser.add_argument("--fixed", action="store_true", help="run with the bug fixed")
    parser.add_argument(
        "--until-idle", type=float, default=None, metavar="SECONDS",
        help="exit 0 once no watch event arrived for this long (default: run forever)",
    )  # fmt: skip
    parser.add_argument(
        "--max-reconciles", type=int, default=DEFAULT_MAX_RECONCILES, metavar="N",
        help="exit 0 after this many reconciles (a safety bound)",
    )  # fmt: skip
    parser.add_argument("--record", metavar="DB", help="record every API call into DB")
    parser.add_argument("--session", metavar="ID", help="session id of the recording")
    args = parser.parse_args(argv)
    if args.until_idle is not None and args.until_idle <= 0:
        parser.error("--until-idle must be positive")
    if args.max_reconciles <= 0:
        parser.error("--max-reconciles must be positive")
    if args.session and not args.record:
        parser.error("--session needs --record")
    if not args.namespace or len(args.namespace) > 63:
        parser.error("--namespace must be 1 to 63 characters")
    return Options(
        name, args.namespace, args.fixed, args.until_idle, args.max_reconciles,
        args.record, args.session,
    )  # fmt: skip


def load_api_client() -> client.ApiClient:
    """The default config: KUBECONFIG or ~/.kube/config, else the in-cluster service account."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as kube_error:
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except config.ConfigException as cluster_error:
            raise OperatorError(
                f"no Kubernetes configuration: {kube_error}; not in a cluster: {cluster_error}"
            ) from cluster_error
    return client.ApiClient(configuration)


def _crd_call(call: Callable[[], object]) -> bool:
    """Run a CRD read or create; a status the client's model rejects still means success."""
    try:
        call()
    except ValueError as error:
        log.warning("CRD %s: unusual status from the server: %s", widget.CRD_NAME, error)
    return True


def ensure_crd(ctx: Context) -> None:
    """Install the Widget CRD when missing, then wait (bounded) until Widgets are served."""
    extensions = client.ApiextensionsV1Api(ctx.api_client)
    try:
        present = _crd_call(lambda: extensions.read_custom_resource_definition(widget.CRD_NAME))
    except ApiException as error:
        if error.status != 404:
            raise
        present = False
    if not present:
        log.info("installing CRD %s", widget.CRD_NAME)
        manifest: Any = widget.crd_manifest()
        try:
            _crd_call(lambda: extensions.create_custom_resource_definition(manifest))
        except ApiException as error:
            if error.status != 409:  # another replica installed it meanwhile
                raise
    waiter = threading.Event()
    for _ in range(CRD_READY_ATTEMPTS):
        try:
            list_widgets(ctx, limit=1)
            return
        except ApiException as error:
            if error.status != 404:
                raise
        waiter.wait(CRD_READY_INTERVAL)
    raise OperatorError(f"CRD {widget.CRD_NAME} is not served after installing it")


def list_widgets(ctx: Context, limit: int | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"limit": limit} if limit else {}
    result = ctx.custom.list_namespaced_custom_object(
        widget.GROUP, widget.VERSION, ctx.options.namespace, widget.PLURAL, **kwargs
    )
    if not isinstance(result, dict):
        raise OperatorError("the API server answered a Widget list that is not an object")
    return result


def get_widget(ctx: Context, name: str) -> dict[str, Any] | None:
    """The Widget, or None when it no longer exists."""
    try:
        found = ctx.custom.get_namespaced_custom_object(
            widget.GROUP, widget.VERSION, ctx.options.namespace, widget.PLURAL, name
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    if not isinstance(found, dict) or not isinstance(found.get("metadata"), dict):
        raise OperatorError(f"Widget {name}: malformed object from the API server")
    return found


def patch_widget_status(ctx: Context, name: str, status: dict[str, Any]) -> bool:
    """Merge-patch the status subresource; False when the Widget is gone."""
    try:
        ctx.custom.patch_namespaced_custom_object_status(
            widget.GROUP, widget.VERSION, ctx.options.namespace, widget.PLURAL, name,
            {"status": status},
        )  # fmt: skip
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


@dataclass(frozen=True)
class Event:
    """One queued item: a Widget name and why it was queued, or a watch failure."""

    name: str
    trigger: str
    failure: str = ""


@dataclass(frozen=True)
class Source:
    """A watched collection, and which name to reconcile for each of its objects."""

    kind: str
    lister: Callable[[Context], tuple[Callable[..., Any], tuple[Any, ...]]]
    key: Callable[[dict[str, Any]], str]  # "" when the object concerns no reconcile


def _own_name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _widget_owner(obj: dict[str, Any]) -> str:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    for owner in owners[:16]:
        if isinstance(owner, dict) and owner.get("kind") == widget.KIND and owner.get("name"):
            return str(owner["name"])
    return ""


WIDGETS = Source(
    "Widget",
    lambda ctx: (
        ctx.custom.list_namespaced_custom_object,
        (widget.GROUP, widget.VERSION, ctx.options.namespace, widget.PLURAL),
    ),
    _own_name,
)
DEPLOYMENTS = Source(
    "Deployment",
    lambda ctx: (ctx.apps.list_namespaced_deployment, (ctx.options.namespace,)),
    _own_name,
)
OWNED_DEPLOYMENTS = Source("Deployment", DEPLOYMENTS.lister, _widget_owner)


class Watcher:
    """Lists a source, then follows its watch from the list's resourceVersion; relists on 410."""

    def __init__(self, ctx: Context, source: Source, events: queue.Queue[Event]) -> None:
        self.ctx = ctx
        self.source = source
        self.events = events
        self.stopping = threading.Event()
        self.watch = watch.Watch()  # type: ignore[no-untyped-call]

    def run(self) -> None:
        try:
            self._relist_loop()
        except (ApiException, OperatorError, OSError, ValueError, HTTPError) as error:
            if not self.stopping.is_set():
                self.events.put(Event("", "", failure=f"watch failed: {error}"))

    def stop(self) -> None:
        """Ask the loop to end and close the open watch so its read returns now."""
        self.stopping.set()
        self.watch.stop()  # type: ignore[no-untyped-call]
        response = getattr(self.watch, "_resp", None)
        if response is not None:
            response.close()

    def _list(self) -> dict[str, Any]:
        function, args = self.source.lister(self.ctx)
        listing = function(*args)
        if not isinstance(listing, dict):  # a typed model: back to plain JSON
            listing = self.ctx.api_client.sanitize_for_serialization(listing)  # type: ignore[no-untyped-call]
        if not isinstance(listing, dict):
            raise OperatorError(f"the API server answered a {self.source.kind} list badly")
        return listing

    def _relist_loop(self) -> None:
        for _ in range(MAX_RELISTS):
            listing = self._list()
            items = listing.get("items") or []
            for item in items[:MAX_LIST_ITEMS]:
                name = self.source.key(item) if isinstance(item, dict) else ""
                self.events.put(Event(name, f"list {self.source.kind}"))
            version = str((listing.get("metadata") or {}).get("resourceVersion", ""))
            try:
                self._follow(version)
            except ApiException as error:
                if error.status != 410:
                    raise
                log.info("watch expired (410); listing again")
            if self.stopping.is_set():
                return
        raise OperatorError(f"gave up after {MAX_RELISTS} relists")

    def _follow(self, version: str) -> None:
        function, args = self.source.lister(self.ctx)
        for _ in range(MAX_WATCH_RESTARTS):
            stream = self.watch.stream(  # type: ignore[no-untyped-call]
                function, *args, resource_version=version, timeout_seconds=WATCH_TIMEOUT_SECONDS
            )
            for event in itertools.islice(stream, MAX_EVENTS_PER_WATCH):
                obj = event.get("raw_object") or {}
                metadata = obj.get("metadata") or {}
                version = str(metadata.get("resourceVersion") or version)
                trigger = f"watch {self.source.kind} {event.get('type')} rv={version}"
                self.events.put(Event(self.source.key(obj), trigger))
            if self.stopping.is_set():
                return


class Controller:
    """Reconciles each queued name once per batch of events, in arrival order."""

    def __init__(
        self,
        ctx: Context,
        reconcile: Reconcile,
        recorder: Any = None,
        kind: str = widget.KIND,
        sources: tuple[Source, ...] = (WIDGETS,),
    ) -> None:
        self.ctx = ctx
        self.reconcile = reconcile
        self.recorder = recorder
        self.kind = kind
        self.sources = sources[:8]
        self.events: queue.Queue[Event] = queue.Queue(maxsize=QUEUE_SIZE)
        self.pending: dict[str, str] = {}
        self.reconciles = 0
        self.errors = 0

    def run(self) -> int:
        watchers = [Watcher(self.ctx, source, self.events) for source in self.sources]
        threads = [
            threading.Thread(target=w.run, name=f"watch-{w.source.kind.lower()}", daemon=True)
            for w in watchers
        ]
        for thread in threads:
            thread.start()
        try:
            return self._loop()
        finally:
            for watcher in watchers:
                watcher.stop()
            for thread in threads:
                thread.join(timeout=WATCH_JOIN_SECONDS)

    def _loop(self) -> int:
        options = self.ctx.options
        while self.reconciles < options.max_reconciles:
            if not self.pending:
                try:
                    self._take(self.events.get(timeout=options.until_idle))
                except queue.Empty:
                    log.info("idle for %ss after %d reconciles; exiting", options.until_idle,
                             self.reconciles)  # fmt: skip
                    return 0
            self._drain()
            name, trigger = next(iter(self.pending.items()))
            del self.pending[name]
            self._reconcile_one(name, trigger)
        log.info("stopping: reached --max-reconciles %d", options.max_reconciles)
        return 0

    def _take(self, event: Event) -> None:
        if event.failure:
            raise OperatorError(event.failure)
        if event.name:
            self.pending.setdefault(event.name, event.trigger)

    def _drain(self) -> None:
        for _ in range(QUEUE_SIZE):
            try:
                self._take(self.events.get_nowait())
            except queue.Empty:
                return

    def _reconcile_one(self, name: str, trigger: str) -> None:
        self.reconciles += 1
        span: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if self.recorder is not None:
            span = self.recorder.reconcile(self.kind, self.ctx.options.namespace, name,
                                           trigger=trigger)  # fmt: skip
        try:
            with span:
                outcome = self.reconcile(self.ctx, name)
        except ApiException as error:
            self.errors += 1
            log.warning("reconcile %s (%s) failed: %s %s", name, trigger, error.status,
                        error.reason)  # fmt: skip
            return
        log.info("reconcile %s (%s): %s", name, trigger, outcome)


@contextlib.contextmanager
def recording(options: Options, api_client: client.ApiClient) -> Iterator[Any]:
    """A ``recorder.Recorder`` instrumenting the client when ``--record`` is given, else None."""
    if not options.record:
        yield None
        return
    from recorder import Recorder  # only operators that record need kreplay installed
    from recorder.errors import KreplayError

    try:
        # A stable actor name (not the default program-pid) lets live replay pair the writes.
        recorder = Recorder(options.record, session_id=options.session, actor=options.name)
    except KreplayError as error:
        raise OperatorError(f"cannot record into {options.record}: {error}") from error
    try:
        recorder.instrument(api_client)
        yield recorder
    finally:
        recorder.close()


def main(
    name: str,
    description: str,
    reconcile: Reconcile,
    argv: list[str] | None = None,
    *,
    kind: str = widget.KIND,
    sources: tuple[Source, ...] = (WIDGETS,),
) -> int:
    """Parse the command line, install the CRD, run the controller; errors are one line."""
    options = parse_options(name, description, argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"{name}: %(message)s")
    try:
        api_client = load_api_client()
        with recording(options, api_client) as recorder:
            ctx = Context(api_client, options)
            ensure_crd(ctx)
            mode = "fixed" if options.fixed else "buggy"
            watched = ", ".join(source.kind for source in sources)
            log.info("watching %s in namespace %s (%s)", watched, options.namespace, mode)
            return Controller(ctx, reconcile, recorder, kind, sources).run()
    except (OperatorError, ApiException, OSError) as error:
        print(f"{name}: error: {json.dumps(str(error))[1:-1]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
