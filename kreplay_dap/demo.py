"""Record a sample operator against the in-memory cluster while a scripted user drives it.

Used by ``kreplay demo`` and by ``samples/record.py``. The operator runs as a real
subprocess (``samples/operators/<name>.py --record DB --session ID``) with ``KUBECONFIG``
pointing at an in-process mock API server; a driver here plays the user: it creates a
Widget, edits it and deletes it, each time waiting on the Widget's watch (bounded by a
deadline) until the operator has caught up. The operator then goes idle and exits.
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from urllib3.exceptions import HTTPError

from kreplay_dap.analysis import AnalysisOptions, AnalysisReport, analyze
from kreplay_dap.apiserver import FakeBackend, start_server
from recorder.errors import InvalidInputError, KreplayError
from recorder.storage import SessionInfo, open_recording

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
OPERATORS = ("hotloop", "conflicts", "fight")
# Extra arguments of the processes each sample runs (the fight has two controllers).
PROCESSES: dict[str, tuple[tuple[str, ...], ...]] = {
    "hotloop": ((),),
    "conflicts": ((),),
    "fight": (("--role", "operator"), ("--role", "scaler")),
}
DEPLOYMENTS = ("apps", "v1", "deployments")
WIDGET_GROUP, WIDGET_VERSION, WIDGET_PLURAL = "demo.kreplay.dev", "v1", "widgets"
CRD_NAME = f"{WIDGET_PLURAL}.{WIDGET_GROUP}"
SPEC_HASH_ANNOTATION = "demo.kreplay.dev/spec-hash"
STEP_DEADLINE_SECONDS = 60.0
EXIT_DEADLINE_SECONDS = 120.0
MAX_WATCH_ROUNDS = 1_000
WATCH_ROUND_SECONDS = 2.0
MAX_EVENTS_PER_ROUND = 100_000
LOG_TAIL_LINES = 15
DEMO_SESSION = "hotloop-demo"
DEMO_DATABASE = "demo.db"

Widget = dict[str, Any]
Progress = Callable[[str, int], None]  # (what is happening, Widget changes seen so far)


class DemoError(KreplayError):
    """The sample recording could not be made (operator failed, timed out, missing samples)."""


@dataclass(frozen=True)
class SampleRun:
    """One recording to make: which operator, buggy or fixed, into which session."""

    operator: str
    fixed: bool
    session_id: str
    namespace: str = "default"
    until_idle: float = 1.0
    max_reconciles: int = 400
    loop_evidence: int = 20  # Widget changes to observe per step while the bug shows

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise InvalidInputError(f"unknown sample operator {self.operator!r}; {OPERATORS}")


def operator_script(operator: str) -> Path:
    """The sample operator's source file, next to the package in a source checkout."""
    script = SAMPLES_DIR / "operators" / f"{operator}.py"
    if not script.is_file():
        raise DemoError(
            f"sample operator {script} not found: kreplay demo runs from a source checkout "
            "(git clone, then pip install -e '.[tools]')"
        )
    return script


def record_sample(run: SampleRun, database: Path, progress: Progress | None = None) -> None:
    """Record ``run`` into ``database`` (appending a session); everything else is temporary."""
    report = progress or (lambda _message, _changes: None)
    script = operator_script(run.operator)
    with tempfile.TemporaryDirectory(prefix="kreplay-sample-") as workdir:
        report("starting the in-memory cluster", 0)
        with start_server(FakeBackend()) as server:
            kubeconfig = str(Path(workdir) / "kubeconfig")
            server.write_kubeconfig(kubeconfig, namespace=run.namespace)
            processes: list[tuple[subprocess.Popen[bytes], Path]] = []
            try:
                for index, extra in enumerate(PROCESSES[run.operator]):
                    log_path = Path(workdir) / f"operator-{index}.log"
                    started = _start_operator(run, script, database, kubeconfig, log_path, extra)
                    processes.append((started, log_path))
                    report(f"operator {run.operator} {' '.join(extra)} started", 0)
                _drive(run, kubeconfig, lambda: _check_alive(processes), report)
                report("waiting for the operator to go idle and exit", 0)
                for process, log_path in processes:
                    _wait_exit(process, log_path)
            finally:
                for process, _ in processes:
                    _stop(process)


@dataclass
class DemoResult:
    """What ``kreplay demo`` recorded and found."""

    database: Path
    session_id: str
    sessions: list[SessionInfo]
    report: AnalysisReport


def run_demo(output_dir: Path, progress: Progress | None = None) -> DemoResult:
    """Record the buggy hotloop sample into ``output_dir/demo.db`` (replaced) and analyse it."""
    if output_dir.exists() and not output_dir.is_dir():
        raise InvalidInputError(f"--output {output_dir} exists and is not a directory")
    output_dir.mkdir(parents=True, exist_ok=True)
    database = output_dir / DEMO_DATABASE
    for suffix in ("", "-wal", "-shm", "-journal"):  # a previous demo's file and its journals
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    record_sample(SampleRun("hotloop", fixed=False, session_id=DEMO_SESSION), database, progress)
    if progress is not None:
        progress("analysing the recording", 0)
    recording = open_recording(str(database))
    try:
        sessions = recording.sessions()
        report = analyze(recording, DEMO_SESSION, AnalysisOptions())
    finally:
        recording.close()
    return DemoResult(database, DEMO_SESSION, sessions, report)


def launch_configuration(database: str, session_id: str) -> dict[str, Any]:
    """The VS Code launch configuration that replays a session."""
    return {
        "type": "kreplay",
        "request": "launch",
        "name": f"Replay {session_id}",
        "database": database,
        "session": session_id,
        "stopOnEntry": True,
    }


def next_commands(
    database: str, session_id: str, script: str, step: int = 0
) -> list[tuple[str, str]]:
    """(command, what it does) to explore a recording of ``script``; ``step`` is of interest."""
    db, session = shlex.quote(database), shlex.quote(session_id)
    kubeconfig = shlex.quote(str(Path(database).with_name("kubeconfig")))
    return [
        (f"kreplay sessions -d {db}", "list the recorded sessions"),
        (f"kreplay replay {session} -d {db} -i", "step through it, forwards and back"),
        (f"kreplay analyze {session} -d {db}", "the full analysis"),
        (
            f"kreplay serve {session} -d {db} --step {step} --pace manual "
            f"--kubeconfig-out {kubeconfig}",
            f"serve the cluster as of step {step}; then: kubectl --kubeconfig {kubeconfig} "
            "get widgets",
        ),
        (
            f"kreplay live {session} -d {db} -- python {shlex.quote(script)} --fixed",
            "re-run the operator, fixed, against the recording, and see where it diverges",
        ),
    ]


def _start_operator(
    run: SampleRun,
    script: Path,
    database: Path,
    kubeconfig: str,
    log_path: Path,
    extra: tuple[str, ...],
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, str(script), *extra, "--namespace", run.namespace,
        "--until-idle", str(run.until_idle), "--max-reconciles", str(run.max_reconciles),
        "--record", str(database.resolve()), "--session", run.session_id,
    ]  # fmt: skip
    if run.fixed:
        command.append("--fixed")
    root = str(SAMPLES_DIR.parent)
    python_path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")]))
    env = dict(os.environ, KUBECONFIG=kubeconfig, PYTHONPATH=python_path, PYTHONUNBUFFERED="1")
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(operator log unreadable: {error})"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _wait_exit(process: subprocess.Popen[bytes], log_path: Path) -> None:
    try:
        code = process.wait(timeout=EXIT_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired as error:
        raise DemoError(
            f"the operator did not exit within {EXIT_DEADLINE_SECONDS:.0f} s:\n"
            + _log_tail(log_path)
        ) from error
    if code != 0:
        raise DemoError(f"the operator exited with code {code}:\n{_log_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def api_client_for(kubeconfig: str) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration
    )
    return client.ApiClient(configuration)


def _version(obj: Widget | None) -> str:
    metadata = (obj or {}).get("metadata") or {}
    return str(metadata.get("resourceVersion") or "")


class WidgetObserver:
    """Follows one object (a Widget by default) through its watch, counting its changes."""

    def __init__(
        self,
        api: client.ApiClient,
        run: SampleRun,
        name: str,
        alive: Callable[[], None],
        resource: tuple[str, str, str] = (WIDGET_GROUP, WIDGET_VERSION, WIDGET_PLURAL),
    ) -> None:
        self.custom = client.CustomObjectsApi(api)  # serves any group, built-in ones too
        self.resource = resource
        self.namespace = run.namespace
        self.name = name
        self.alive = alive
        self.report: Progress = lambda _message, _changes: None
        self.step = ""
        self.last: Widget | None = None
        self.version = ""
        self.changes = 0

    def announce(self, step: str) -> None:
        """Name the step under way; watch updates report their counts under it."""
        self.step = step
        self.report(step, self.changes)

    def remember(self, answer: object) -> None:
        """Start from the object a write returned."""
        if not isinstance(answer, dict):
            raise DemoError(f"the server answered a write with {type(answer).__name__}")
        self.last = answer
        self.version = _version(answer) or self.version

    def wait(self, what: str, condition: Callable[[Widget | None], bool]) -> None:
        """Return once ``condition`` holds for the Widget; DemoError after the deadline."""
        deadline = time.monotonic() + STEP_DEADLINE_SECONDS
        for _ in range(MAX_WATCH_ROUNDS):
            if condition(self.last):
                return
            self.alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._watch(condition, min(remaining, WATCH_ROUND_SECONDS))
        raise DemoError(f"timed out after {STEP_DEADLINE_SECONDS:.0f} s waiting for {what}")

    def _watch(self, condition: Callable[[Widget | None], bool], remaining: float) -> None:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            self.custom.list_namespaced_custom_object,
            self.resource[0], self.resource[1], self.namespace, self.resource[2],
            resource_version=self.version, timeout_seconds=max(1, int(remaining)),
            _request_timeout=remaining, deserialize=False,
        )  # fmt: skip
        try:
            for event in itertools.islice(stream, MAX_EVENTS_PER_ROUND):
                kind = event.get("type") if isinstance(event, dict) else None
                obj = event.get("object") if isinstance(event, dict) else None
                if not isinstance(obj, dict):
                    raise DemoError(f"malformed watch event from the server: {event!r:.200}")
                self.version = _version(obj) or self.version
                if (obj.get("metadata") or {}).get("name") != self.name:
                    continue
                self.last = None if kind == "DELETED" else obj
                self.changes += kind == "MODIFIED"
                self.report(self.step, self.changes)
                if condition(self.last):
                    return
        except HTTPError:
            return  # the read timed out: the caller checks its deadline
        finally:
            stream.close()


def _check_alive(processes: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for process, log_path in processes:
        code = process.poll()
        if code is not None:
            raise DemoError(f"an operator exited early with code {code}:\n{_log_tail(log_path)}")


def wait_for_crd(api: client.ApiClient, alive: Callable[[], None]) -> None:
    """Wait (bounded) until the operator has installed the Widget CRD."""
    extensions = client.ApiextensionsV1Api(api)
    deadline = time.monotonic() + STEP_DEADLINE_SECONDS
    for _ in range(MAX_WATCH_ROUNDS):
        alive()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            extensions.list_custom_resource_definition,
            timeout_seconds=max(1, int(min(remaining, WATCH_ROUND_SECONDS))),
            _request_timeout=min(remaining, WATCH_ROUND_SECONDS), deserialize=False,
        )  # fmt: skip
        try:
            for event in itertools.islice(stream, MAX_EVENTS_PER_ROUND):
                obj = event.get("object") if isinstance(event, dict) else None
                if isinstance(obj, dict) and (obj.get("metadata") or {}).get("name") == CRD_NAME:
                    return
        except HTTPError:
            continue  # this round timed out
        finally:
            stream.close()
    raise DemoError(f"the operator did not install CRD {CRD_NAME} in {STEP_DEADLINE_SECONDS} s")


def _annotation(obj: Widget | None) -> str | None:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(SPEC_HASH_ANNOTATION)
    return str(value) if value is not None else None


def _caught_up(
    observer: WidgetObserver, run: SampleRun, evidence: int
) -> Callable[[Widget | None], bool]:
    """The operator has observed this generation (and, while the bug shows, looped a bit)."""
    start = observer.changes
    previous = _annotation(observer.last)

    def condition(obj: Widget | None) -> bool:
        if obj is None:
            return False
        status = obj.get("status") or {}
        if status.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
            return False
        if run.operator == "conflicts" and _annotation(obj) in (None, previous):
            return False
        return observer.changes - start >= evidence

    return condition


def _widget(run: SampleRun, name: str, replicas: int, message: str) -> Widget:
    return {
        "apiVersion": f"{WIDGET_GROUP}/{WIDGET_VERSION}",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": run.namespace},
        "spec": {"replicas": replicas, "image": "nginx:1.27", "message": message},
    }


def _settle(observer: WidgetObserver, fight: WidgetObserver, run: SampleRun, what: str) -> None:
    """Wait until the operator caught up and, while a bug shows, until it has shown a while."""
    buggy_loop = run.operator == "hotloop" and not run.fixed
    evidence = run.loop_evidence if buggy_loop else 0
    observer.wait(f"the operator to reconcile {what}", _caught_up(observer, run, evidence))
    if run.operator == "fight" and not run.fixed:
        start = fight.changes
        fight.step = observer.step
        fight.wait("the fight over replicas", lambda _: fight.changes - start >= run.loop_evidence)


def _drive(run: SampleRun, kubeconfig: str, alive: Callable[[], None], report: Progress) -> None:
    """Play the user: create a Widget, edit it, delete it, waiting for the operator each time."""
    api = api_client_for(kubeconfig)
    try:
        report("waiting for the operator to install its CRD", 0)
        wait_for_crd(api, alive)
        observer = WidgetObserver(api, run, "web", alive)
        fight = WidgetObserver(api, run, "web", alive, DEPLOYMENTS)
        observer.report = fight.report = report
        where = (WIDGET_GROUP, WIDGET_VERSION, run.namespace, WIDGET_PLURAL)
        observer.announce("creating Widget web (1 replica)")
        observer.remember(
            observer.custom.create_namespaced_custom_object(*where, _widget(run, "web", 1, "hello"))
        )
        _settle(observer, fight, run, "Widget web")
        observer.announce("editing Widget web (3 replicas, new message)")
        edit = {"spec": {"replicas": 3, "message": "bonjour"}}
        observer.remember(observer.custom.patch_namespaced_custom_object(*where, "web", edit))
        _settle(observer, fight, run, "the edit")
        observer.announce("deleting Widget web")
        observer.custom.delete_namespaced_custom_object(*where, "web")
        observer.wait("Widget web to be deleted", lambda obj: obj is None)
    finally:
        api.close()  # type: ignore[no-untyped-call]
