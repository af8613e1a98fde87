"""The pure resolver: ``ApiServer.handle(ApiRequest) -> ApiResponse``, no sockets involved."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from kreplay_dap.apiserver import (
    discovery,
    objects,
    openapi,
    protobuf,
    removal,
    scale,
    schema,
    status,
)
from kreplay_dap.apiserver.backend import Backend, WriteIntent
from kreplay_dap.apiserver.kinds import KindInfo, kind_from_crd
from kreplay_dap.apiserver.listing import list_response, selectors_of, watch_response
from kreplay_dap.apiserver.messages import ApiRequest, ApiResponse
from kreplay_dap.apiserver.metadata import quote
from kreplay_dap.apiserver.objects import Target
from kreplay_dap.apiserver.patching import APPLY_PATCH
from kreplay_dap.apiserver.routing import ResourcePath, parse_resource_path, path_not_found
from kreplay_dap.apiserver.state import StoredObject

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024
NOT_ALLOWED = "the server does not allow this method on the requested resource"
PROTOBUF = "application/vnd.kubernetes.protobuf"
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
TOO_LARGE = f"Request entity too large: limit is {MAX_BODY_BYTES}"
OPTIONS_KINDS = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}


def _not_allowed() -> status.ApiStatusError:
    return status.ApiStatusError(405, NOT_ALLOWED)


_WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def _dry_run(request: ApiRequest, verb: str) -> bool:
    """``dryRun=All`` (the one value the API server accepts) on a create, update or patch."""
    value = request.query.get("dryRun")
    if value is None:
        return False
    if value != "All":
        cause = removal.dry_run_cause([value])
        raise status.invalid(OPTIONS_KINDS[verb], "meta.k8s.io", "", [cause])
    return True


FIELD_VALIDATIONS = ("", "Ignore", "Strict", "Warn")  # sorted, as the API server lists them


def _field_validation(request: ApiRequest, verb: str) -> str:
    """A write's ``fieldValidation``: "Warn" when absent (the API server's default)."""
    value = request.query.get("fieldValidation", "")
    if value not in FIELD_VALIDATIONS:
        supported = ", ".join(quote(name) for name in FIELD_VALIDATIONS)
        cause = (
            "fieldValidation",
            f"Unsupported value: {quote(value)}: supported values: {supported}",
        )
        raise status.invalid(OPTIONS_KINDS[verb], "meta.k8s.io", "", [cause])
    return value or "Warn"


_WARNING_CHARS = 256  # the API server truncates each warning to this many characters
_WARNINGS_BYTES = 4096  # and sends no more than this much of them in all


def _with_warnings(response: ApiResponse, warnings: list[str]) -> ApiResponse:
    """Warnings as the API server sends them, ``299 - "text"`` each (here in one Warning
    header, as a list), escaped to ASCII: a field name can hold any character."""
    items: list[str] = []
    size = 0
    for text in warnings[:_WARNINGS_BYTES]:
        ascii_text = text[:_WARNING_CHARS].encode("ascii", "backslashreplace").decode()
        item = '299 - "' + ascii_text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        size += len(item) + 2
        if size > _WARNINGS_BYTES:
            break
        items.append(item)
    if items:
        response.headers["Warning"] = ", ".join(items)
    return response


def parse_body(request: ApiRequest) -> Any:
    if len(request.body) > MAX_BODY_BYTES:
        raise status.ApiStatusError(413, TOO_LARGE)
    if request.content_type == PROTOBUF:
        return protobuf.decode_object(request.body)
    if "protobuf" in request.content_type or "cbor" in request.content_type:
        raise status.ApiStatusError(
            415,
            "the body of the request was in an unknown format - accepted media types include: "
            f"application/json, {PROTOBUF} (got {request.content_type})",
        )
    if not request.body:
        raise status.bad_request("the request body is empty")
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError) as error:
        raise status.bad_request(f"couldn't get version/kind; json parse error: {error}") from error


class ApiServer:
    """Routes requests to discovery, the object lifecycle, lists and watches."""

    def __init__(self, backend: Backend, server_address: str = "127.0.0.1:0") -> None:
        self.backend = backend
        self.state = backend.state
        self.server_address = server_address

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one request; every failure becomes a ``Status``, nothing escapes."""
        try:
            return self._dispatch(request)
        except status.ApiStatusError as error:
            return ApiResponse.json(error.code, error.status())
        except Exception as error:
            logger.exception("internal error on %s %s", request.method, request.path)
            failure = status.failure_status(500, "InternalError", f"internal error: {error}")
            return ApiResponse.json(500, failure)

    def _dispatch(self, request: ApiRequest) -> ApiResponse:
        fixed = self._fixed_document(request.path.rstrip("/") or "/")
        if fixed is not None:
            if request.method not in ("GET", "HEAD"):
                raise _not_allowed()
            return fixed
        route = parse_resource_path(request.path)
        if route is None:
            raise path_not_found()
        if not route.plural:
            if request.method != "GET":
                raise _not_allowed()
            document = discovery.api_resource_list(self.state.registry, route.group, route.version)
            if document is None:
                raise path_not_found()
            return ApiResponse.json(200, document)
        return self._resource(request, self._target(route))

    def _fixed_document(self, path: str) -> ApiResponse | None:
        registry = self.state.registry
        if path == "/version":
            return ApiResponse.json(200, discovery.SERVER_VERSION)
        if path == "/api":
            return ApiResponse.json(200, discovery.api_versions(self.server_address))
        if path == "/apis":
            return ApiResponse.json(200, discovery.api_group_list(registry))
        if path in HEALTH_PATHS:
            return ApiResponse(200, b"ok", content_type="text/plain")
        if path == openapi.PREFIX:
            return ApiResponse.json(200, openapi.root(registry))
        if path.startswith(openapi.PREFIX + "/"):
            document = openapi.group_version_document(registry, path[len(openapi.PREFIX) + 1 :])
            if document is None:
                raise path_not_found()
            return ApiResponse.json(200, document)
        if path.startswith("/apis/") and path.count("/") == 2:
            group = discovery.api_group(registry, path.rsplit("/", 1)[1])
            if group is None:
                raise path_not_found()
            return ApiResponse.json(200, group)
        return None

    def _target(self, route: ResourcePath) -> Target:
        info = self.state.registry.resolve(route.group, route.version, route.plural)
        if info is None or (route.namespace and not info.namespaced):
            raise path_not_found()
        if route.subresource and route.subresource not in info.subresources:
            raise path_not_found()
        return Target(info, route.namespace, route.name, route.subresource, route.version)

    def _resource(self, request: ApiRequest, target: Target) -> ApiResponse:
        verb = _WRITE_VERBS.get(request.method)
        if verb is None or (verb == "create") == bool(target.name):
            return self._request(request, target)
        checked = _field_validation(request, verb)
        target = dataclasses.replace(target, field_validation=checked, warnings=[])
        return _with_warnings(self._request(request, target), target.warnings)

    def _request(self, request: ApiRequest, target: Target) -> ApiResponse:
        method = request.method
        if method == "GET":
            recorded = self._intercept_read(request, target)
            return recorded if recorded is not None else self._read(request, target)
        if method == "POST" and not target.name:
            intent = WriteIntent("create", target, parse_body(request),
                                 dry_run=_dry_run(request, "create"))  # fmt: skip
            return self._write(request, intent)
        if method == "PUT" and target.name:
            intent = WriteIntent("update", target, parse_body(request),
                                 dry_run=_dry_run(request, "update"))  # fmt: skip
            return self._write(request, intent)
        if method == "PATCH" and target.name:
            intent = WriteIntent("patch", target, self._patch_body(request), request.content_type,
                                 _dry_run(request, "patch"))  # fmt: skip
            return self._write(request, intent)
        if method == "DELETE":
            if not target.name and "deletecollection" not in target.info.verbs:
                raise _not_allowed()
            body = parse_body(request) if request.body.strip() else None
            options = removal.delete_options(body, request.query)
            verb = "delete" if target.name else "deletecollection"
            intent = WriteIntent(verb, target, body, dry_run=removal.is_dry_run(options),
                                 delete_options=options)  # fmt: skip
            return self._write(request, intent)
        raise _not_allowed()

    def _intercept_read(self, request: ApiRequest, target: Target) -> ApiResponse | None:
        """A backend that follows the client's progress (live replay) may answer a read with
        the recorded response; it is an optional method, absent from plain backends."""
        intercept = getattr(self.backend, "intercept_read", None)
        if intercept is None or request.query.get("watch") in ("1", "true"):
            return None
        answer = intercept("get" if target.name else "list", target)
        return answer if isinstance(answer, ApiResponse) else None

    def _patch_body(self, request: ApiRequest) -> Any:
        if request.content_type == APPLY_PATCH:
            raise status.ApiStatusError(
                415, "server-side apply is not supported by the kreplay API server"
            )
        return parse_body(request)

    def _read(self, request: ApiRequest, target: Target) -> ApiResponse:
        if not target.name:
            if request.query.get("watch") in ("1", "true"):
                response = watch_response(self.state, request, target)
                started = getattr(self.backend, "watch_started", None)  # optional, for replay
                if started is not None:
                    started()
                return response
            return list_response(self.state, request, target)
        stored = self.state.get(target.info, target.namespace, target.name)
        if stored is None or (target.info.namespaced and not target.namespace):
            raise status.not_found(target.info.group_resource, target.name)
        if target.subresource == "scale":
            return ApiResponse.json(200, scale.scale_of(stored.obj))
        return self._object_response(200, stored, target)

    def _object_response(self, code: int, stored: StoredObject, target: Target) -> ApiResponse:
        version = target.version or target.info.storage_version
        if stored.body and stored.obj.get("apiVersion") == target.info.api_version(version):
            return ApiResponse(code, stored.body)
        return ApiResponse.json(
            code, {**stored.obj, "apiVersion": target.info.api_version(version)}
        )

    def _write(self, request: ApiRequest, intent: WriteIntent) -> ApiResponse:
        if (
            intent.target.info.namespaced
            and not intent.target.namespace
            and intent.verb != "create"
        ):
            raise path_not_found()
        if not intent.dry_run:  # a dry run never consumes a recorded write: state answers it
            intercepted = self.backend.intercept_write(intent)
            if intercepted is not None:
                return intercepted
        return self._apply(request, intent)

    def _apply(self, request: ApiRequest, intent: WriteIntent) -> ApiResponse:
        target, body, dry_run = intent.target, intent.body, intent.dry_run
        is_crd = target.info.kind == "CustomResourceDefinition" and not target.subresource
        if intent.verb == "create":
            if target.info.namespaced and not target.namespace:
                raise path_not_found()
            kind = kind_from_crd(body) if is_crd else None
            stored = objects.create(self.state, target, body, dry_run)
            if kind is not None and not dry_run:
                self._serve(kind)
                schema.refresh_stored_objects(self.state, stored.obj)
            return self._object_response(201, stored, target)
        if intent.verb in ("update", "patch"):
            return self._modify(intent, dry_run)
        options = intent.delete_options or {}  # set by the DELETE branch, the only one here
        if intent.verb == "delete":
            deleted = removal.delete(self.state, target, options, dry_run)
            return self._deleted_response(deleted, target, options)
        return self._delete_collection(request, target, dry_run)

    def _serve(self, kind: KindInfo) -> None:
        """Serve a CRD's kind, unless a built-in kind of that group and plural is served."""
        if self.state.registry.by_resource(kind.group, kind.plural) == kind:
            return  # unchanged: keep the served kind, and the watches on it
        if not self.state.registry.register(kind):
            logger.info("CRD %s not served: the built-in kind stays", kind.group_resource)

    def _modify(self, intent: WriteIntent, dry_run: bool) -> ApiResponse:
        target = intent.target
        if target.subresource == "scale":
            content_type = intent.content_type if intent.verb == "patch" else ""
            return ApiResponse.json(
                200, scale.write_scale(self.state, target, intent.body, content_type, dry_run)
            )
        if intent.verb == "update":
            stored = objects.update(self.state, target, intent.body, dry_run)
        else:
            stored = objects.patch(self.state, target, intent.content_type, intent.body, dry_run)
        is_crd = target.info.kind == "CustomResourceDefinition"
        if is_crd and not dry_run and self.state.get(target.info, "", target.name) is not None:
            self._serve(kind_from_crd(stored.obj))
            schema.refresh_stored_objects(self.state, stored.obj)
        return self._object_response(200, stored, target)

    def _converted(self, obj: dict[str, Any], target: Target) -> dict[str, Any]:
        """An object in the version the request addressed (custom resources may have several)."""
        return {**obj, "apiVersion": target.info.api_version(target.version)}

    def _deleted_response(
        self, deleted: removal.Deleted, target: Target, options: dict[str, Any]
    ) -> ApiResponse:
        """The object while finalizers keep it; once removed, the object only for kinds whose
        registry returns deleted objects, else a Success Status naming it (kind = resource)."""
        info = target.info
        if deleted.removed and not info.returns_deleted_object:
            details = {"name": target.name, "group": info.group, "kind": info.plural,
                       "uid": deleted.obj["metadata"].get("uid", "")}  # fmt: skip
            shown = {k: v for k, v in details.items() if v}  # Go omits empty fields
            return ApiResponse.json(200, status.success_status(shown))
        # 202 Accepted: not deleted yet and the client asked for cascading deletion
        accepted = not deleted.removed and options.get("orphanDependents") is False
        return ApiResponse.json(202 if accepted else 200, self._converted(deleted.obj, target))

    def _delete_collection(self, request: ApiRequest, target: Target, dry_run: bool) -> ApiResponse:
        labels, fields = selectors_of(request, target.info)
        deleted = removal.delete_collection(self.state, target, labels, fields, dry_run)
        info = target.info
        metadata = {"resourceVersion": str(self.state.resource_version)}
        items = [self._converted(obj, target) for obj in deleted]
        listed = {"kind": info.list_kind, "apiVersion": info.api_version(target.version),
                  "metadata": metadata, "items": items}  # fmt: skip
        return ApiResponse.json(200, listed)
