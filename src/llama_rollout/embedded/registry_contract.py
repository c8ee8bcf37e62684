"""The Model Registry REST API's contract, from the upstream OpenAPI file, enforced both ways.

The embedded registry checks every request against ``model-registry-openapi.yaml`` (kubeflow/hub
``api/openapi/model-registry.yaml``, see ``tests/data/README.md``) before its store sees it, and
every response it gives before the client does. What a request gets for breaking the contract
follows the real server's generated handlers (kubeflow/hub ``internal/server/openapi``: the
``api_model_registry_service.go`` controllers, ``error.go``'s ``DefaultErrorHandler``, chi's
router):

* a body that is not JSON, has a field of the wrong type or outside an enum, or a field the
  schema does not know (the handlers decode with ``DisallowUnknownFields``): **400**;
* a required field missing or empty (the ``Assert...Required`` checks test for Go's zero
  value): **422**; both carry ``{"code": "Bad Request", "message": ...}``, as upstream;
* a query parameter that breaks its schema: **400**; a path id that no resource can have
  (``0``, not a decimal id): **404**;
* a path the API does not have: **404** ``404 page not found``; a method it does not
  declare on that path: **405**, as chi answers.

A response whose status the operation does not declare, or whose body breaks its schema, is a
bug of the stand-in: it is replaced by a 500 that names the breach, so tests see it. The
generated handlers answer malformed input with 400 or 422 on every operation, documented or
not, so those two are accepted everywhere.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

SPEC_FILE = Path(__file__).with_name("model-registry-openapi.yaml")
SPEC_PREFIX = "/api/model_registry/v1alpha3"
ALWAYS_ALLOWED = frozenset({400, 422})
# Experiments and their runs are the one part of the API the embedded registry does not serve
# (nothing here tracks training): their paths answer 404, as paths the API lacks do.
NOT_SERVED = ("/experiment",)
_METHODS = ("get", "post", "patch", "put", "delete")


class ContractViolation(Exception):
    """A request the real server refuses; ``status`` and ``body`` are its answer."""

    def __init__(self, status: int, message: str, *, plain: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.plain = plain

    def body(self) -> bytes:
        if self.plain:
            return self.message.encode()
        # Upstream's RequiredError answers 422 with the body of a 400.
        code = HTTPStatus.BAD_REQUEST if self.status == 422 else HTTPStatus(self.status)
        return json.dumps({"code": code.phrase, "message": self.message}).encode()


@dataclass(frozen=True)
class Operation:
    """One method on one path of the API."""

    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: tuple[dict[str, Any], ...]
    body_schema: dict[str, Any] | None
    responses: dict[int, dict[str, Any] | None]  # status -> body schema (None: no body)

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class RegistryContract:
    """The operations of the OpenAPI file, and the checks of requests and responses."""

    def __init__(self, spec_file: Path = SPEC_FILE) -> None:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self.spec = yaml.load(spec_file.read_text(), Loader=loader)  # noqa: S506 - a safe loader
        self.operations = [
            op
            for path in self.spec["paths"]
            if not path.removeprefix(SPEC_PREFIX).startswith(NOT_SERVED)
            for op in self._operations(path)
        ]

    def _operations(self, path: str) -> list[Operation]:
        item = self.spec["paths"][path]
        template = path.removeprefix(SPEC_PREFIX)
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$")
        shared = [self._resolved(p) for p in item.get("parameters", [])]
        operations = []
        for method in _METHODS:
            if method not in item:
                continue
            op = item[method]
            parameters = {p["name"]: p for p in shared}
            parameters |= {p["name"]: p for p in map(self._resolved, op.get("parameters", []))}
            body = self._resolved(op["requestBody"]) if "requestBody" in op else None
            operations.append(
                Operation(
                    method.upper(),
                    template,
                    pattern,
                    tuple(parameters.values()),
                    _json_schema(body),
                    {int(s): _json_schema(self._resolved(r)) for s, r in op["responses"].items()},
                )
            )
        return operations

    def _resolved(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self._at(node["$ref"])
        return node

    def _at(self, ref: str) -> dict[str, Any]:
        node: Any = self.spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    # -- requests -------------------------------------------------------------------------

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation for ``method`` on ``path`` (below the API prefix), and its path values."""
        on_path = [(op, m) for op in self.operations if (m := op.pattern.match(path))]
        if not on_path:
            raise ContractViolation(404, "404 page not found", plain=True)
        for op, match in on_path:
            if op.method == method:
                names = re.findall(r"\{([^}]+)\}", op.template)
                return op, dict(zip(names, match.groups(), strict=True))
        raise ContractViolation(405, "", plain=True)

    def check_request(
        self, op: Operation, path_values: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        """Raise the real server's answer when the request breaks the contract."""
        for parameter in op.parameters:
            where, name = parameter["in"], parameter["name"]
            value = path_values.get(name) if where == "path" else query.get(name)
            if value is None or "schema" not in parameter:
                continue
            error = next(self._validator(parameter["schema"]).iter_errors(value), None)
            if error is not None:
                if where == "path":
                    raise ContractViolation(404, f"no resource with {name} {value!r}")
                raise ContractViolation(400, f"{name}: {error.message}")
        if op.body_schema is not None:
            self._check_body(op.body_schema, body)

    def _check_body(self, schema: dict[str, Any], body: bytes) -> None:
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise ContractViolation(400, f"the request body is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ContractViolation(400, "json: cannot unmarshal into an object")
        if unknown := self._unknown_fields(schema, value, ""):
            raise ContractViolation(400, f'json: unknown field "{unknown}"')
        try:
            errors = list(self._validator(schema).iter_errors(value))
        except (TypeError, KeyError) as exc:  # the validator trips on a malformed discriminator
            raise ContractViolation(400, f"json: cannot decode the body: {exc}") from exc
        zero = [e for e in errors if _is_zero_required(e)]
        if broken := [e for e in errors if e not in zero]:
            raise ContractViolation(400, _describe(broken[0]))
        if zero:
            raise ContractViolation(422, f"required field '{_field(zero[0])}' is zero value.")
        if value.get("name") == "":
            # Every resource's responses require a non-empty name; an artifact's create schema
            # alone leaves it optional, so an empty one would come back breaking the contract.
            raise ContractViolation(422, "required field 'name' is zero value.")

    def _unknown_fields(self, schema: dict[str, Any], value: Any, where: str) -> str | None:
        """The first field of ``value`` that ``schema`` does not declare (Go's strict decoding)."""
        schema = self._resolved(schema)
        # A oneOf (a custom property's value) is decoded by its own UnmarshalJSON, which is not
        # strict: only plain objects refuse unknown fields.
        if "oneOf" in schema or not isinstance(value, dict):
            return None
        properties = self._properties(schema)
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                found = self._unknown_fields(properties[key], item, f"{where}{key}.")
            elif isinstance(extra, dict):
                found = self._unknown_fields(extra, item, f"{where}{key}.")
            elif properties:
                return f"{where}{key}"
            else:
                found = None
            if found:
                return found
        return None

    def _properties(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = self._resolved(schema)
        properties = dict(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            properties |= self._properties(part)
        return properties

    # -- responses ------------------------------------------------------------------------

    def response_problem(self, op: Operation, status: int, body: bytes) -> str | None:
        """What is wrong with a response the stand-in gave, or None when it keeps the contract."""
        if status not in op.responses and status not in ALWAYS_ALLOWED:
            return (
                f"{op.name} answered {status}, which it does not declare ({sorted(op.responses)})"
            )
        schema = op.responses.get(status)
        if status in ALWAYS_ALLOWED and schema is None:
            schema = {"$ref": "#/components/schemas/Error"}
        if schema is None:
            return None
        try:
            value = json.loads(body)
        except ValueError:
            return f"{op.name} answered {status} with a body that is not JSON"
        error = next(self._validator(schema).iter_errors(value), None)
        if error is not None:
            return f"{op.name} answered {status} with {_describe(error)}"
        return None

    @functools.cache  # noqa: B019 - one contract per server, kept for its lifetime
    def _validator_for(self, schema_json: str) -> OAS30Validator:
        return OAS30Validator(
            {**json.loads(schema_json), "components": self.spec["components"]},
            format_checker=oas30_format_checker,  # int32/int64 ranges, uri, date-time
        )

    def _validator(self, schema: dict[str, Any]) -> OAS30Validator:
        return self._validator_for(json.dumps(schema, sort_keys=True))


def _json_schema(node: dict[str, Any] | None) -> dict[str, Any] | None:
    if node is None:
        return None
    content = node.get("content", {}).get("application/json")
    return content.get("schema") if content else None


def _is_zero_required(error: Any) -> bool:
    """Missing, or Go's zero value: an empty string fails the required check, not a pattern."""
    return error.validator == "required" or (
        error.instance == "" and bool(error.path) and error.validator in ("minLength", "pattern")
    )


def _field(error: Any) -> str:
    if error.validator == "required":
        match = re.match(r"'([^']+)' is a required property", error.message)
        return match[1] if match else error.message
    return ".".join(str(p) for p in error.path)


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where or 'body'}: {error.message}"[:300]
