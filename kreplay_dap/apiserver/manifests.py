"""Seed a cluster from YAML/JSON manifests (multi-document YAML, ``List`` kinds)."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml

from kreplay_dap.apiserver.messages import ApiRequest
from kreplay_dap.apiserver.resolver import ApiServer
from recorder.errors import InvalidInputError

MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_DOCUMENTS = 20_000
_FIRST = {"Namespace": 0, "CustomResourceDefinition": 1}


def read_documents(path: str) -> list[dict[str, Any]]:
    """Every object in a manifest file, with ``List`` kinds flattened."""
    if os.path.getsize(path) > MAX_MANIFEST_BYTES:
        raise InvalidInputError(f"{path}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise InvalidInputError(f"{path}: not valid YAML or JSON: {error}") from error
    documents: list[dict[str, Any]] = []
    for document in loaded[:MAX_DOCUMENTS]:
        if document is None:
            continue
        if not isinstance(document, dict) or not document.get("kind"):
            raise InvalidInputError(f"{path}: every document must be an object with a kind")
        items = document.get("items") if str(document["kind"]).endswith("List") else None
        if isinstance(items, list):
            documents.extend(i for i in items[:MAX_DOCUMENTS] if isinstance(i, dict))
        else:
            documents.append(document)
    if len(documents) > MAX_DOCUMENTS:
        raise InvalidInputError(f"{path}: more than {MAX_DOCUMENTS} objects")
    return documents


def _collection_path(api: ApiServer, document: dict[str, Any], default_namespace: str) -> str:
    api_version = str(document.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    info = api.state.registry.by_kind(group, str(document["kind"]))
    if info is None or version not in info.versions:
        raise InvalidInputError(f"no kind {document['kind']} in {api_version or 'the core group'}")
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if not info.namespaced:
        return f"{base}/{info.plural}"
    namespace = (document.get("metadata") or {}).get("namespace") or default_namespace
    api.state.ensure_namespace(str(namespace))
    return f"{base}/namespaces/{namespace}/{info.plural}"


def load_manifests(api: ApiServer, paths: list[str], namespace: str = "default") -> int:
    """Create every object of ``paths`` (namespaces and CRDs first); returns the count."""
    documents: list[dict[str, Any]] = []
    for path in paths:
        documents.extend(read_documents(path))
    documents.sort(key=lambda d: _FIRST.get(str(d.get("kind")), 2))
    for document in documents:
        path = _collection_path(api, document, namespace)
        response = api.handle(ApiRequest("POST", path, body=json.dumps(document).encode()))
        if response.status >= 300:
            message = (response.decoded() or {}).get("message", "")
            raise InvalidInputError(f"cannot load {document['kind']}: {message}")
    return len(documents)
