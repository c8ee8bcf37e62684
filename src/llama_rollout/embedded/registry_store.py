"""SQLite storage for the embedded Model Registry: typed resources with parents and paging.

Every resource of the Kubeflow Model Registry API (registered models, model versions,
artifacts, serving environments, inference services, serve models) is a row: its kind, its
parent, its unique name within that parent, and its JSON body. The rules the real server
enforces live here: unique names per parent, existing parents, enum states, well-formed
customProperties, read-only ids and timestamps.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READ_ONLY = ("id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")
METADATA_VALUE_FIELDS = {
    "MetadataStringValue": "string_value",
    "MetadataIntValue": "int_value",
    "MetadataDoubleValue": "double_value",
    "MetadataBoolValue": "bool_value",
    "MetadataStructValue": "struct_value",
    "MetadataProtoValue": "proto_value",
}
ARTIFACT_TYPES = ("model-artifact", "doc-artifact", "dataset-artifact", "metric", "parameter")
ARTIFACT_STATES = (
    "UNKNOWN",
    "PENDING",
    "LIVE",
    "MARKED_FOR_DELETION",
    "DELETED",
    "ABANDONED",
    "REFERENCE",
)


@dataclass(frozen=True)
class Kind:
    """A resource kind: its defaults, enum fields and the field that names its parent."""

    name: str
    defaults: dict[str, Any]
    enums: dict[str, tuple[str, ...]]
    parent_field: str | None = None
    parent_kind: str | None = None
    required: tuple[str, ...] = ()


KINDS = {
    k.name: k
    for k in (
        Kind(
            "registered_model",
            {"state": "LIVE"},
            {"state": ("LIVE", "ARCHIVED")},
            required=("name",),
        ),
        Kind(
            "model_version",
            {"state": "LIVE"},
            {"state": ("LIVE", "ARCHIVED")},
            "registeredModelId",
            "registered_model",
            ("name", "registeredModelId"),
        ),
        Kind(
            "artifact",
            {"state": "UNKNOWN", "artifactType": "model-artifact"},
            {"state": ARTIFACT_STATES, "artifactType": ARTIFACT_TYPES},
        ),
        Kind("serving_environment", {}, {}, required=("name",)),
        Kind(
            "inference_service",
            {"desiredState": "DEPLOYED"},
            {"desiredState": ("DEPLOYED", "UNDEPLOYED")},
            "servingEnvironmentId",
            "serving_environment",
            ("registeredModelId", "servingEnvironmentId"),
        ),
        Kind(
            "serve_model",
            {"lastKnownState": "UNKNOWN"},
            {
                "lastKnownState": (
                    "UNKNOWN",
                    "NEW",
                    "RUNNING",
                    "COMPLETE",
                    "FAILED",
                    "CACHED",
                    "CANCELED",
                )
            },
            required=("modelVersionId",),
        ),
    )
}


class StoreError(Exception):
    """A request the registry refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_page_token: str
    page_size: int


class RegistryStore:
    """Resources in one SQLite file (or in memory for ``:memory:``)."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS resources (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                owner_id INTEGER,
                name TEXT,
                external_id TEXT UNIQUE,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL,
                body TEXT NOT NULL)"""
        )
        self._db.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS by_name ON resources(kind, IFNULL(owner_id, 0), name)"
        )

    # -- reads ----------------------------------------------------------------------------

    def get(self, kind: str, resource_id: str) -> dict[str, Any]:
        row = self._row(
            "SELECT * FROM resources WHERE kind=? AND id=?", (kind, _int_id(resource_id))
        )
        if row is None:
            raise StoreError(404, f"no {kind} with id {resource_id}")
        return _render(row)

    def find(
        self,
        kind: str,
        *,
        name: str | None = None,
        external_id: str | None = None,
        owner_id: str | None = None,
    ) -> dict[str, Any]:
        if external_id:
            row = self._row(
                "SELECT * FROM resources WHERE kind=? AND external_id=?", (kind, external_id)
            )
        elif name:
            owner = _int_id(owner_id) if owner_id else None
            row = self._row(
                "SELECT * FROM resources WHERE kind=? AND name=? AND IFNULL(owner_id,0)=IFNULL(?,0)",
                (kind, name, owner),
            )
        else:
            raise StoreError(400, "give name or externalId")
        if row is None:
            what = f"name {name!r}" if name else f"externalId {external_id!r}"
            scope = f" in parent {owner_id}" if owner_id else ""
            raise StoreError(404, f"no {kind} with {what}{scope}")
        return _render(row)

    def list(
        self,
        kind: str,
        *,
        owner_id: str | None = None,
        page_size: int = 100,
        order_by: str = "ID",
        sort_order: str = "ASC",
        page_token: str = "",
        artifact_type: str | None = None,
    ) -> Page:
        column = {"ID": "id", "CREATE_TIME": "created", "LAST_UPDATE_TIME": "updated"}.get(order_by)
        if column is None:
            raise StoreError(
                400, f"invalid orderBy {order_by!r}: use ID, CREATE_TIME or LAST_UPDATE_TIME"
            )
        if sort_order not in ("ASC", "DESC"):
            raise StoreError(400, f"invalid sortOrder {sort_order!r}: use ASC or DESC")
        if page_size < 1:
            raise StoreError(400, f"invalid pageSize {page_size}")
        offset = _decode_token(page_token)
        where = "kind=?"
        args: list[str | int] = [kind]
        if owner_id is not None:
            where += " AND owner_id=?"
            args.append(_int_id(owner_id))
        if artifact_type:
            where += " AND json_extract(body, '$.artifactType')=?"
            args.append(artifact_type)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM resources WHERE {where} ORDER BY {column} {sort_order}, id {sort_order} "  # noqa: S608
                "LIMIT ? OFFSET ?",
                (*args, page_size + 1, offset),
            ).fetchall()
        more = len(rows) > page_size
        token = _encode_token(offset + page_size) if more else ""
        return Page([_render(r) for r in rows[:page_size]], token, page_size)

    # -- writes ---------------------------------------------------------------------------

    def create(
        self, kind: str, body: dict[str, Any], *, owner_id: str | None = None
    ) -> dict[str, Any]:
        spec = KINDS[kind]
        body = {k: v for k, v in body.items() if k not in READ_ONLY and v is not None}
        if spec.parent_field and owner_id is None:
            owner_id = body.get(spec.parent_field)
        if spec.parent_field and owner_id is not None:
            body[spec.parent_field] = str(owner_id)
        missing = [f for f in spec.required if not body.get(f)]
        if missing:
            raise StoreError(400, f"{kind} needs {', '.join(missing)}")
        body = {**spec.defaults, **body}
        self._validate(spec, body)
        with self._lock:
            if spec.parent_kind and owner_id is not None:
                self.get(spec.parent_kind, str(owner_id))
            now = _now_ms()
            try:
                cursor = self._db.execute(
                    "INSERT INTO resources(kind, owner_id, name, external_id, created, updated, body) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (
                        kind,
                        _int_id(owner_id) if owner_id else None,
                        body.get("name"),
                        body.get("externalId"),
                        now,
                        now,
                        json.dumps(body),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    409, f"{kind} {body.get('name') or body.get('externalId')!r} already exists"
                ) from exc
            return self.get(kind, str(cursor.lastrowid))

    def update(self, kind: str, resource_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        spec = KINDS[kind]
        with self._lock:
            current = self.get(kind, resource_id)
            if "name" in patch and patch["name"] not in (None, current.get("name")):
                raise StoreError(400, f"the name of {kind} {resource_id} cannot be changed")
            body = {k: v for k, v in current.items() if k not in READ_ONLY}
            body.update({k: v for k, v in patch.items() if k not in READ_ONLY and v is not None})
            self._validate(spec, body)
            try:
                self._db.execute(
                    "UPDATE resources SET body=?, updated=?, external_id=? WHERE id=?",
                    (json.dumps(body), _now_ms(), body.get("externalId"), _int_id(resource_id)),
                )
            except sqlite3.IntegrityError as exc:
                # PATCH declares no 409: a taken externalId is bad input.
                raise StoreError(400, f"externalId {body.get('externalId')!r} is taken") from exc
            return self.get(kind, resource_id)

    def attach(self, kind: str, resource_id: str, owner_id: str) -> dict[str, Any]:
        """Make an existing resource a child of ``owner_id`` (an artifact of a version)."""
        with self._lock:
            self.get(kind, resource_id)
            self._db.execute(
                "UPDATE resources SET owner_id=?, updated=? WHERE id=?",
                (_int_id(owner_id), _now_ms(), _int_id(resource_id)),
            )
            return self.get(kind, resource_id)

    # -- helpers --------------------------------------------------------------------------

    def _row(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    @staticmethod
    def _validate(spec: Kind, body: dict[str, Any]) -> None:
        for field, allowed in spec.enums.items():
            if field in body and body[field] not in allowed:
                raise StoreError(
                    400,
                    f"invalid {field} {body[field]!r} for {spec.name}: one of {', '.join(allowed)}",
                )
        props = body.get("customProperties") or {}
        if not isinstance(props, dict):
            raise StoreError(400, "customProperties must be an object")
        for key, value in props.items():
            kind = value.get("metadataType") if isinstance(value, dict) else None
            value_field = METADATA_VALUE_FIELDS.get(kind or "")
            if value_field is None or value_field not in value:
                raise StoreError(
                    400,
                    f"customProperties[{key!r}] needs metadataType (one of "
                    f"{', '.join(METADATA_VALUE_FIELDS)}) and its value field",
                )


def _render(row: sqlite3.Row) -> dict[str, Any]:
    body = json.loads(row["body"])
    body.setdefault("customProperties", {})
    body["id"] = str(row["id"])
    body["createTimeSinceEpoch"] = str(row["created"])
    body["lastUpdateTimeSinceEpoch"] = str(row["updated"])
    return body


def _int_id(value: str | int | None) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise StoreError(400, f"invalid id {value!r}: ids are decimal integers") from exc


def _now_ms() -> int:
    return int(time.time() * 1000)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(400, f"invalid nextPageToken {token!r}") from exc
