"""ObjectMeta checks as kube-apiserver makes them, in its two stages.

Decoding into the Go types rejects a field of the wrong JSON type (a numeric name, a label
value that is not a string, ...) with 400 BadRequest, worded as Go's JSON decoder words it;
a patch whose result does not decode gets 422 on its ``patch`` field instead. Validation then
reports syntax errors (label keys and values, annotation keys, finalizer names, owner
references) as 422 Invalid field causes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from kreplay_dap.apiserver import status
from kreplay_dap.apiserver.kinds import KindInfo

QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
SUBDOMAIN_MAX = 253
ANNOTATIONS_MAX_BYTES = 256 * 1024
MAX_METADATA_ENTRIES = 10_000
_QUALIFIED_FORMAT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FORMAT = f"({_QUALIFIED_FORMAT})?"
_SUBDOMAIN_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_QUALIFIED = re.compile(f"^{_QUALIFIED_FORMAT}$")
_LABEL_VALUE = re.compile(f"^{_LABEL_VALUE_FORMAT}$")
SUBDOMAIN = re.compile(f"^{_SUBDOMAIN_FORMAT}$")
_QUALIFIED_TEXT = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an"
    " alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for"
    f" validation is '{_QUALIFIED_FORMAT}')"
)
_LABEL_VALUE_TEXT = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or"
    " '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or"
    f" 'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE_FORMAT}')"
)
SUBDOMAIN_TEXT = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or"
    " '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used"
    f" for validation is '{_SUBDOMAIN_FORMAT}')"
)
_STRING_FIELDS = ("name", "generateName", "namespace", "uid", "resourceVersion")
_OWNER_STRINGS = ("apiVersion", "kind", "name", "uid")
_OWNER_BOOLS = ("controller", "blockOwnerDeletion")

Cause = tuple[str, str]  # (field, message) as in status.invalid


class DecodeError(status.ApiStatusError):
    """The body does not decode into the kind's Go type (a JSON type mismatch)."""

    def __init__(self, info: KindInfo, version: str, detail: str) -> None:
        kind = info.kind
        super().__init__(
            400,
            f'{kind} in version "{info.api_version(version)}" cannot be handled as a {kind}: '
            f"{detail}",
        )
        self.detail = detail


def as_patch_error(error: DecodeError, patched: Any) -> status.ApiStatusError:
    """A patch whose result does not decode: 422 on the ``patch`` field, as the patch
    handler reports it (its kind and name are empty)."""
    shown = json.dumps(patched, separators=(",", ":"))[:1_024]
    return status.invalid("", "", "", [("patch", f"Invalid value: {quote(shown)}: {error.detail}")])


def quote(value: Any) -> str:
    """A value as Go's ``%q`` prints it in field errors."""
    return json.dumps(value, ensure_ascii=False)


def json_type(value: Any) -> str:
    """The JSON type name Go's decoder uses in "cannot unmarshal <type>" errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def unmarshal_error(value: Any, field: str, go_type: str) -> str:
    return (
        f"json: cannot unmarshal {json_type(value)} into Go struct field {field} of type {go_type}"
    )


# -- decoding (400) ---------------------------------------------------------------------------
def check_types(info: KindInfo, version: str, metadata: dict[str, Any]) -> None:
    """Reject what Go's decoder would not decode into ObjectMeta; null counts as absent."""
    for field in _STRING_FIELDS:
        value = metadata.get(field)
        if value is not None and not isinstance(value, str):
            detail = unmarshal_error(value, f"ObjectMeta.metadata.{field}", "string")
            raise DecodeError(info, version, detail)
    generation = metadata.get("generation")
    if generation is not None and (not isinstance(generation, int) or isinstance(generation, bool)):
        detail = unmarshal_error(generation, "ObjectMeta.metadata.generation", "int64")
        raise DecodeError(info, version, detail)
    for field in ("labels", "annotations"):
        _check_string_map(info, version, metadata, field)
    _check_finalizer_types(info, version, metadata)
    _check_owner_types(info, version, metadata)


def _collection(
    info: KindInfo,
    version: str,
    metadata: dict[str, Any],
    field: str,
    shape: type[dict[str, Any]] | type[list[Any]],
    go_type: str,
) -> Any:
    """A metadata map or list of the right JSON type and bounded size, or None if absent."""
    values: Any = metadata.get(field)
    if values is None:
        return None
    if not isinstance(values, shape):
        detail = unmarshal_error(values, f"ObjectMeta.metadata.{field}", go_type)
        raise DecodeError(info, version, detail)
    if len(values) > MAX_METADATA_ENTRIES:
        raise status.bad_request(f"metadata.{field} has more than {MAX_METADATA_ENTRIES} entries")
    return values


def _check_string_map(info: KindInfo, version: str, metadata: dict[str, Any], field: str) -> None:
    values = _collection(info, version, metadata, field, dict, "map[string]string")
    if values is not None:
        _check_strings(info, version, values, list(values), field)


def _check_finalizer_types(info: KindInfo, version: str, metadata: dict[str, Any]) -> None:
    finalizers = _collection(info, version, metadata, "finalizers", list, "[]string")
    if finalizers is not None:
        _check_strings(info, version, finalizers, range(len(finalizers)), "finalizers")


def _check_strings(
    info: KindInfo, version: str, values: Any, keys: Iterable[Any], field: str
) -> None:
    """Each entry a string; Go decodes a null into a string as ""."""
    for key in keys:
        value = values[key]
        if value is None:
            values[key] = ""
        elif not isinstance(value, str):
            detail = unmarshal_error(value, f"ObjectMeta.metadata.{field}", "string")
            raise DecodeError(info, version, detail)


def _check_owner_types(info: KindInfo, version: str, metadata: dict[str, Any]) -> None:
    owners = _collection(info, version, metadata, "ownerReferences", list, "[]v1.OwnerReference")
    where = "ObjectMeta.metadata.ownerReferences"
    for owner in owners or ():
        if not isinstance(owner, dict):
            raise DecodeError(info, version, unmarshal_error(owner, where, "v1.OwnerReference"))
        for field in (*_OWNER_STRINGS, *_OWNER_BOOLS):
            value = owner.get(field)
            go_type = "string" if field in _OWNER_STRINGS else "bool"
            expected = str if go_type == "string" else bool
            if value is not None and not isinstance(value, expected):
                inner = f"OwnerReference.metadata.ownerReferences.{field}"
                raise DecodeError(info, version, unmarshal_error(value, inner, go_type))


# -- validation (422) -------------------------------------------------------------------------
def qualified_name_errors(value: str) -> list[str]:
    """What Go's ``IsQualifiedName`` says about a label key, annotation key or finalizer."""
    parts = value.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return [
            f"a qualified name {_QUALIFIED_TEXT} with an optional DNS subdomain prefix and '/'"
            " (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        errors.extend(f"prefix part {m}" for m in subdomain_errors(prefix) if prefix)
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errors.append(f"name part must be no more than {QUALIFIED_NAME_MAX} characters")
    if not _QUALIFIED.match(name):
        errors.append(f"name part {_QUALIFIED_TEXT}")
    return errors


def subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > SUBDOMAIN_MAX:
        errors.append(f"must be no more than {SUBDOMAIN_MAX} characters")
    if not SUBDOMAIN.match(value):
        errors.append(SUBDOMAIN_TEXT)
    return errors


def label_value_errors(value: str) -> list[str]:
    errors = []
    if len(value) > LABEL_VALUE_MAX:
        errors.append(f"must be no more than {LABEL_VALUE_MAX} characters")
    if not _LABEL_VALUE.match(value):
        errors.append(_LABEL_VALUE_TEXT)
    return errors


def syntax_errors(metadata: dict[str, Any]) -> list[Cause]:
    """Field errors of labels, annotations, finalizers and ownerReferences (types checked)."""
    causes: list[Cause] = []
    for key, value in sorted((metadata.get("labels") or {}).items()):
        causes.extend(("metadata.labels", f"Invalid value: {quote(key)}: {m}")
                      for m in qualified_name_errors(key))  # fmt: skip
        causes.extend(("metadata.labels", f"Invalid value: {quote(value)}: {m}")
                      for m in label_value_errors(value))  # fmt: skip
    annotations = metadata.get("annotations") or {}
    for key in sorted(annotations):
        causes.extend(("metadata.annotations", f"Invalid value: {quote(key)}: {m}")
                      for m in qualified_name_errors(key.lower()))  # fmt: skip
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        message = f"Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"
        causes.append(("metadata.annotations", message))
    for finalizer in metadata.get("finalizers") or []:
        causes.extend(("metadata.finalizers", f"Invalid value: {quote(finalizer)}: {m}")
                      for m in qualified_name_errors(finalizer))  # fmt: skip
    causes.extend(_owner_errors(metadata.get("ownerReferences") or []))
    return causes


def _owner_errors(owners: list[dict[str, Any]]) -> list[Cause]:
    causes: list[Cause] = []
    path = "metadata.ownerReferences"
    for owner in owners:
        api_version = owner.get("apiVersion") or ""
        if not api_version.rpartition("/")[2]:
            message = f"Invalid value: {quote(api_version)}: version must not be empty"
            causes.append((f"{path}.apiVersion", message))
        for field in ("kind", "name", "uid"):
            if not owner.get(field):
                causes.append((f"{path}.{field}", f'Invalid value: "": {field} must not be empty'))
    controllers = [f"{o.get('kind')}/{o.get('name')}" for o in owners if o.get("controller")]
    if len(controllers) > 1:
        message = (
            'Invalid value: "": Only one reference can have Controller set to true. Found'
            f' "true" in references for {controllers[0]} and {controllers[1]}'
        )
        causes.append((path, message))
    return causes
