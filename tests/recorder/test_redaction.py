"""No secret reaches the file: checked on the raw database bytes and on every decoded body."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from recorder import Recorder
from recorder.capture.redact import LAST_APPLIED
from recorder.errors import InvalidInputError
from recorder.storage import open_recording
from tests.recorder.helpers import read_ops

client: Any = kubernetes.client
watch: Any = kubernetes.watch

PLAIN = "hunter2-plaintext-password"
ENCODED = base64.b64encode(PLAIN.encode()).decode()
CHANGED = base64.b64encode(b"another-secret-value-42").decode()
USER_SECRET = "custom-field-secret-value"
TOKEN = "bearer-token-abcdef0123456789"


def raw_bytes(db: str) -> bytes:
    return b"".join(
        Path(db + suffix).read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(db + suffix).exists()
    )


def all_bodies(db: str) -> bytes:
    recording = open_recording(db)
    try:
        ops = list(recording.operations("s1"))
        refs = [ref for op in ops for ref in (op.request_ref, op.response_ref) if ref]
        texts = [op.error_message.encode() + op.name.encode() for op in ops]
        return b"\n".join([*(recording.body(ref) or b"" for ref in refs), *texts])
    finally:
        recording.close()


def drive_secrets(core: Any) -> None:
    secret = {"metadata": {"name": "db"}, "data": {"password": ENCODED},
              "stringData": {"raw": PLAIN}}  # fmt: skip
    core.create_namespaced_secret("default", secret)
    core.read_namespaced_secret("db", "default")
    core.list_namespaced_secret("default")
    core.patch_namespaced_secret("db", "default", {"data": {"password": CHANGED}})
    core.patch_namespaced_secret(
        "db", "default", [{"op": "replace", "path": "/data/password", "value": ENCODED}]
    )
    for deserialize in (True, False):
        events = watch.Watch().stream(core.list_namespaced_secret, "default",
                                      resource_version="0", timeout_seconds=2,
                                      deserialize=deserialize)  # fmt: skip
        for _event in events:
            break


def test_secret_values_become_digests_everywhere(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder(redact_paths=["data.password"])
    configuration.api_key = {"BearerToken": TOKEN}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    api = recorder.instrument(client.ApiClient(configuration))
    core = client.CoreV1Api(api)
    drive_secrets(core)
    custom_body = {"metadata": {"name": "c2"}, "data": {"password": USER_SECRET, "a": "b"}}
    core.create_namespaced_config_map("default", custom_body)
    recorder.close()

    ops, requests, responses = read_ops(db)
    assert len([op for op in ops if op.verb == "watch"]) == 2
    for needle in (PLAIN, ENCODED, CHANGED, USER_SECRET, TOKEN, "Bearer"):
        assert needle.encode() not in raw_bytes(db)
        assert needle.encode() not in all_bodies(db)
    created, read = requests[0], responses[1]
    marker = created["data"]["password"]
    assert marker.startswith("<redacted hmac-sha256:")
    assert read["data"]["password"] == marker  # same value, same digest
    assert responses[3]["data"]["password"] != marker  # a change is still visible
    assert requests[4][0]["value"] == marker
    assert requests[-1]["data"]["password"].startswith("<redacted")
    assert requests[-1]["data"]["a"] == responses[-1]["data"]["a"] == "b"


def test_the_check_would_see_plaintext_without_redaction(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    """Control: the same values in a ConfigMap (not redacted) are found by the check."""
    recorder: Recorder = make_recorder()
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "plain"}, "data": {"password": PLAIN}}
    )
    recorder.close()
    assert PLAIN.encode() in all_bodies(db)


def test_invalid_redaction_paths_are_refused(db: str) -> None:
    with pytest.raises(InvalidInputError):
        Recorder(db, redact_paths=["spec..password"])


def applied(name: str, value: str) -> str:
    """The annotation ``kubectl apply`` writes: the applied object, secret values and all."""
    document = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "data": {"password": value}}  # fmt: skip
    return json.dumps(document) + "\n"


def test_secret_values_in_the_last_applied_annotation_become_digests(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder()
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    annotations = {LAST_APPLIED: applied("applied", ENCODED)}
    secret = {"metadata": {"name": "applied", "annotations": annotations},
              "data": {"password": ENCODED}}  # fmt: skip
    core.create_namespaced_secret("default", secret)
    core.read_namespaced_secret("applied", "default")
    annotation_path = "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
    core.patch_namespaced_secret("applied", "default", [
        {"op": "replace", "path": annotation_path, "value": applied("applied", CHANGED)},
        {"op": "replace", "path": "/data/password", "value": CHANGED},
    ])  # fmt: skip
    core.patch_namespaced_secret("applied", "default", {
        "metadata": {"annotations": {LAST_APPLIED: "not json, but " + PLAIN}}
    })  # fmt: skip
    recorder.close()

    for needle in (PLAIN, ENCODED, CHANGED):
        assert needle.encode() not in raw_bytes(db)
    _ops, requests, responses = read_ops(db)
    kept = json.loads(responses[1]["metadata"]["annotations"][LAST_APPLIED])
    assert kept["metadata"] == {"name": "applied"}  # the rest of the copy stays readable
    assert kept["data"]["password"] == responses[1]["data"]["password"]  # one value, one digest
    patched = json.loads(requests[2][0]["value"])
    assert patched["data"]["password"] == requests[2][1]["value"].strip()
    assert patched["data"]["password"] != kept["data"]["password"]
    unreadable = requests[3]["metadata"]["annotations"][LAST_APPLIED]
    assert unreadable.startswith("<redacted hmac-sha256:")


def test_a_config_maps_last_applied_annotation_is_kept(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder()
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    text = json.dumps({"kind": "ConfigMap", "data": {"password": PLAIN}})
    body = {"metadata": {"name": "cm", "annotations": {LAST_APPLIED: text}}, "data": {"a": "b"}}
    core.create_namespaced_config_map("default", body)
    recorder.close()
    _ops, requests, _responses = read_ops(db)
    assert requests[0]["metadata"]["annotations"][LAST_APPLIED] == text
