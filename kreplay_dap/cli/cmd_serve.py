"""``kreplay serve``: the mock Kubernetes API server, empty, from manifests, or replaying."""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from types import FrameType

import click

from kreplay_dap.apiserver import Backend, FakeBackend, RunningServer, start_server
from kreplay_dap.apiserver.manifests import load_manifests
from kreplay_dap.apiserver.replay import PACES, ReplayBackend
from kreplay_dap.cli.options import database_option, max_ops_option, print_limits, resolve_max_ops
from recorder.errors import InvalidInputError
from recorder.storage import Recording, open_recording

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _is_loopback(address: str) -> bool:
    if address in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _check_address(address: str, allow_remote: bool) -> None:
    if _is_loopback(address):
        return
    if not allow_remote:
        raise InvalidInputError(
            f"refusing to bind {address}: the server has no authentication; "
            "add --allow-remote to expose it beyond this machine"
        )
    click.echo(
        f"kreplay: warning: binding {address}: anyone who can reach it can read and change "
        "the served cluster state (no authentication)",
        err=True,
    )


def _backend(
    session: str | None, database: str, step: int, pace: str, empty: bool, max_ops: int
) -> Backend:
    if session is None:
        if not empty:
            raise InvalidInputError("give a SESSION to replay, or --empty / --load FILE")
        return FakeBackend()
    if empty:
        raise InvalidInputError("--empty and a SESSION exclude each other")
    recording = open_recording(database, max_ops=max_ops)
    try:
        _check_step(recording, session, step)
        backend = ReplayBackend(recording, session, step, pace=pace, feed_on_first_watch=True)
    except BaseException:
        recording.close()
        raise
    print_limits(recording)
    return backend


def _check_step(recording: Recording, session: str, step: int) -> None:
    """``--step`` names an operation of the session (0: before the first), as ``g N`` does
    in ``kreplay replay``; past the operation limit is past what is read."""
    info = recording.session(session)
    bound = recording.limit_seq(session)
    last = info.last_seq if bound is None else bound
    if step == 0 or (last is not None and step <= last):
        return
    if last is None or info.first_seq is None:
        raise InvalidInputError(f"session {session!r} has no operations: --step can only be 0")
    first = info.first_seq
    beyond = (
        "outside the session"
        if bound is None
        else f"beyond the {recording.max_ops}-operation limit"
    )
    raise InvalidInputError(f"step {step} is {beyond} (#{first}..#{last}; 0 is before the first)")


def _wait_for_signal() -> None:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop.wait(1.0):
        continue


def _report(server: RunningServer) -> None:
    backend = server.backend
    if isinstance(backend, ReplayBackend):
        found = backend.divergences()
        click.echo(f"kreplay: {len(found)} divergence(s) from the recording", err=True)
        for divergence in found[:50]:
            click.echo(f"  {divergence.describe()}", err=True)


@click.command("serve")
@click.argument("session", required=False)
@database_option
@click.option(
    "--step",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Replay: start from the cluster state as of this operation.",
)
@click.option(
    "--pace",
    type=click.Choice(PACES),
    default="fast",
    show_default=True,
    help="Replay: once a client watches, deliver the recorded watch events after --step at "
    "once, at recorded pace, or never (until then kubectl sees the state at --step).",
)
@click.option("--empty", is_flag=True, help="Serve an empty cluster (namespace default only).")
@click.option(
    "--load",
    "manifests",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Seed the cluster from YAML/JSON manifests (repeatable).",
)
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback address.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port; 0 picks a free one.",
)
@click.option(
    "--kubeconfig-out",
    type=click.Path(dir_okay=False),
    help="Write a kubeconfig for kubectl and load_kube_config here.",
)
@max_ops_option
def command(session: str | None, database: str, step: int, pace: str, empty: bool,
            manifests: tuple[str, ...], address: str, allow_remote: bool, port: int,
            kubeconfig_out: str | None, max_ops: int | None) -> None:  # fmt: skip
    """Run a mock Kubernetes API server: empty, seeded from manifests, or replaying SESSION."""
    _check_address(address, allow_remote)
    limit = resolve_max_ops(max_ops)
    backend = _backend(session, database, step, pace, empty or bool(manifests), limit)
    logging.basicConfig(level=logging.INFO, format="kreplay: %(message)s")
    with start_server(backend, host=address, port=port) as server:
        if manifests:
            count = load_manifests(server.api, list(manifests))
            click.echo(f"kreplay: loaded {count} object(s)", err=True)
        if kubeconfig_out:
            server.write_kubeconfig(kubeconfig_out)
            click.echo(f"kreplay: kubeconfig written to {kubeconfig_out}", err=True)
        click.echo(f"kreplay API server listening on {server.url}")
        _wait_for_signal()
        _report(server)
