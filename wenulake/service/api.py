"""The REST API, `/api/v1/...`: the catalog's resources, their history, the quarantine inbox and queued work.

Every request needs `Authorization: Bearer <token>` (401 without); viewers read, operators also change the
catalog and queue work, admins also manage tokens. Updates and retirements name the version they change
(`If-Match: "<version>"`, the ETag of a read, or `version` in the body): a stale version gets 412.

No `from __future__ import annotations` here: FastAPI reads the annotations of the routes at runtime, and the
per-resource body models are local to `_add_resource`.
"""

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from wenulake.catalog.changes import RESOURCES, Catalog, Resource
from wenulake.catalog.validation import FieldProblem
from wenulake.errors import WenulakeError
from wenulake.service import jobs, users
from wenulake.service.users import User

# -- models ----------------------------------------------------------------------------------------------------
TIMESTAMPS = {"installed_at", "retired_at", "valid_from", "valid_to"}
NUMBERS = {"scale", "offset", "min_value", "max_value"}
INTEGERS = {"report_interval_s"}


def _out_type(column: str) -> Any:
    if column in TIMESTAMPS:
        return datetime | None
    if column in NUMBERS:
        return float | None
    if column == "version":
        return int
    if column in INTEGERS:
        return int | None
    if column == "active":
        return bool
    if column in ("sensor_id",):
        return str | None
    return str | None


def _in_type(column: str) -> Any:
    """Inputs are loose on purpose: the catalog's validation module checks them, with the messages of
    `catalog load`, instead of the framework's."""
    if column in NUMBERS:
        return float | str | None
    if column in INTEGERS:
        return int | float | str | None
    if column == "active":
        return bool | str | None
    return str | None


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


OUT_MODELS: dict[str, type[BaseModel]] = {}
CREATE_MODELS: dict[str, type[BaseModel]] = {}
UPDATE_MODELS: dict[str, type[BaseModel]] = {}
for _r in RESOURCES.values():
    OUT_MODELS[_r.name] = create_model(  # type: ignore[call-overload]
        _title(_r.singular), **{c: (_out_type(c), ...) for c in _r.columns}
    )
    _create_fields = {c: (_in_type(c), None) for c in _r.create_fields}
    if _r.name == "technicians":
        _create_fields["active"] = (_in_type("active"), None)
    CREATE_MODELS[_r.name] = create_model(  # type: ignore[call-overload]
        _title(_r.singular) + "Create", __config__=ConfigDict(extra="forbid"), **_create_fields
    )
    _update_fields: dict[str, Any] = {c: (_in_type(c), None) for c in _r.update_fields}
    _update_fields["version"] = (int | None, Field(None, description="the version you edit (or If-Match)"))
    if _r.name == "sensors":
        _update_fields["effective_from"] = (
            str | None,
            Field(None, description="a metric/unit/kind/scale/offset change starts a new sensor from here"),
        )
        _update_fields["new_sensor_id"] = (
            str | None,
            Field(None, description="id of the new sensor version"),
        )
    UPDATE_MODELS[_r.name] = create_model(
        _title(_r.singular) + "Update", __config__=ConfigDict(extra="forbid"), **_update_fields
    )


class Problem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    detail: str
    problems: list[Problem] = []


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: str | None = Field(None, description="end date, ISO 8601 (default now)")
    version: int | None = None


class ChangeOut(BaseModel):
    audit_id: int
    at: datetime
    actor: str
    action: str
    resource: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ChangePage(BaseModel):
    items: list[ChangeOut]
    total: int
    limit: int
    offset: int


class QuarantineGroup(BaseModel):
    device_id: str | None
    channel: str | None
    reason: str
    readings: int
    messages: int
    first_seen: datetime | None
    last_seen: datetime | None
    raw_sample: str | None
    device_registered: bool


class SensorImpact(BaseModel):
    sensor_id: str
    effective_from: datetime
    readings: int = Field(description="readings of the sensor in silver.reading from effective_from on")
    first_ts: datetime | None
    last_ts: datetime | None
    utc_hours: int = Field(description="UTC hours of stats_hourly to recompute")
    local_days: int = Field(description="site-local days of stats_daily to recompute")
    arrival_hours: int = Field(description="arrival hours the sensors DAG processes again")
    first_arrival_hour: datetime | None
    last_arrival_hour: datetime | None
    tables: list[str]


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["replay"] = "replay"
    reasons: list[Literal["unknown_device", "unknown_channel"]] = ["unknown_device", "unknown_channel"]


class JobOut(BaseModel):
    job_id: int
    kind: str
    params: dict[str, Any]
    status: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: str | None


class MeOut(BaseModel):
    username: str
    role: str


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    name: str = "integration"


class UserOut(BaseModel):
    username: str
    role: str
    active: bool
    created_at: datetime | None = None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=200)
    role: str = Field(description="admin, operator or viewer")
    password: str = Field(description="at least 8 characters; only its argon2 hash is kept")


class TokenInfoOut(BaseModel):
    token_id: str = Field(description="the token's public id: the first 12 hex digits of its sha256")
    username: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class TokenOut(BaseModel):
    username: str
    name: str
    token: str = Field(description="shown once; only its hash is kept")


class RetiringKey(BaseModel):
    key_id: str
    retired_at: datetime


class NewKeyOut(BaseModel):
    key_id: str
    device_id: str
    key: str = Field(description="base64 of the 32-byte AES-256 key: shown in this answer only, never again")
    min_format: int = Field(
        description="the oldest message format the key accepts (records in older ones: unknown_key)"
    )
    created_at: datetime
    retiring: list[RetiringKey] = Field(description="the device's keys this rotation retires, and when")


class DeviceKeyOut(BaseModel):
    key_id: str
    device_id: str
    retired_at: datetime | None
    active: bool
    min_format: int = Field(description="the oldest message format the key accepts (1: v1 and v2)")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rotate: bool = Field(False, description="the device has a key: retire it after grace_hours")
    grace_hours: float = Field(24, ge=0, le=720, description="how long rotated-out keys keep working")
    min_format: int = Field(
        2, ge=1, le=2,
        description="the oldest message format the new key accepts: 2 (default) refuses v1 records, which can be "
        "replayed under a new message id; 1 for firmware that still writes v1",
    )  # fmt: skip


DeviceCreated = create_model("DeviceCreated", __base__=OUT_MODELS["devices"], key=(NewKeyOut | None, None))


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no or bad credentials"},
    403: {"model": ErrorOut, "description": "the role does not allow it"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such object"}}
INVALID: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "conflicts with the catalog (exists, overlaps)"},
    422: {"model": ErrorOut, "description": "invalid values, every problem listed"},
}
VERSIONED: dict[int | str, dict[str, Any]] = {
    412: {"model": ErrorOut, "description": "stale version: someone else changed it"},
    428: {"model": ErrorOut, "description": "no version given (If-Match or version)"},
}


class ApiError(Exception):
    def __init__(self, status: int, detail: str, problems: list[FieldProblem] | None = None) -> None:
        self.status, self.detail, self.problems = status, detail, problems or []


# -- auth --------------------------------------------------------------------------------------------------------
def catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def bearer_user(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, "credentials needed: Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    user = users.token_user(request.app.state.catalog.engine, token.strip())
    if user is None:
        raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    return user


def needs(permission: str) -> Callable[[User], User]:
    def check(user: User = Depends(bearer_user)) -> User:
        if not user.can(permission):
            raise HTTPException(403, f"role {user.role} may not do this (needs {permission})")
        return user

    return check


READ = Depends(needs("read"))
EDIT = Depends(needs("edit"))
ADMIN = Depends(needs("admin"))


def _version(if_match: str | None, body_version: int | None) -> int:
    if if_match:
        text = if_match.strip().removeprefix("W/").strip('"')
        if text.isdigit():
            return int(text)
        raise ApiError(412, f'If-Match {if_match!r} is not a version this API issued (an ETag like "3")')
    if body_version is not None:
        return body_version
    raise ApiError(
        428, 'say which version you change: If-Match: "<version>" (the ETag) or version in the body'
    )


def _etag(response: Response, row: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = f'"{row["version"]}"'
    return row


def _instant(value: str | None, field: str) -> datetime | None:
    from wenulake.catalog.validation import Checker

    checker = Checker()
    parsed = checker.instant({field: value}, field, required=False)
    if checker.problems:
        raise ApiError(422, str(checker.problems[0]), checker.problems)
    return parsed


def _queue_reprocessing(
    request: Request, sensor_id: str, start: datetime, user: User, response: Response
) -> None:
    from wenulake.service.inbox import queue_reprocessing

    job = queue_reprocessing(request.app.state.settings, catalog(request), sensor_id, start, user.username)
    if job is not None:
        response.headers["X-Queued-Job"] = f"/api/v1/jobs/{job['job_id']}"


def _provision(
    request: Request, device_id: str, user: User, rotate: bool, grace_hours: float, min_format: int = 2
) -> Any:
    from datetime import timedelta

    from wenulake.service.provisioning import provision

    made = provision(
        request.app.state.settings, catalog(request), device_id, user.username, rotate,
        timedelta(hours=grace_hours), min_format,
    )  # fmt: skip
    return {
        "key_id": made.key_id,
        "device_id": made.device_id,
        "key": made.key,
        "min_format": min_format,
        "created_at": made.created_at,
        "retiring": [{"key_id": k, "retired_at": v} for k, v in sorted(made.retiring.items())],
    }


# -- routes ------------------------------------------------------------------------------------------------------
router = APIRouter(prefix="/api/v1", responses=ERRORS)


def _add_resource(r: Resource) -> None:
    out, create_in, update_in = OUT_MODELS[r.name], CREATE_MODELS[r.name], UPDATE_MODELS[r.name]
    page = create_model(
        _title(r.singular) + "Page",
        items=(list[out], ...),  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )

    def list_items(request: Request, **kwargs: Any) -> Any:
        filters = {c: kwargs[c] for c in r.filters if kwargs.get(c) is not None}
        result = catalog(request).list(
            r,
            q=kwargs["q"],
            filters=filters,
            sort=kwargs["sort"],
            descending=kwargs["order"] == "desc",
            limit=kwargs["limit"],
            offset=kwargs["offset"],
            include_retired=kwargs["include_retired"],
        )
        return {"items": result.rows, "total": result.total, "limit": result.limit, "offset": result.offset}

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "q", inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
            default=Query(None, max_length=200, description=f"search in {', '.join(r.search)}"),
        ),
        inspect.Parameter(
            "sort", inspect.Parameter.KEYWORD_ONLY, annotation=Literal[tuple(r.columns)] | None,
            default=Query(None),
        ),
        inspect.Parameter(
            "order", inspect.Parameter.KEYWORD_ONLY, annotation=Literal["asc", "desc"], default=Query("asc")
        ),
        inspect.Parameter(
            "limit", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=Query(50, ge=1, le=500)
        ),
        inspect.Parameter(
            "offset", inspect.Parameter.KEYWORD_ONLY, annotation=int, default=Query(0, ge=0, le=10_000_000)
        ),
        inspect.Parameter(
            "include_retired", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=Query(True)
        ),
        *(
            inspect.Parameter(
                c, inspect.Parameter.KEYWORD_ONLY, annotation=str | None,
                default=Query(None, max_length=200, description=f"only rows with this {c}"),
            )
            for c in r.filters
        ),
    ]  # fmt: skip
    list_items.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    router.add_api_route(
        f"/{r.name}",
        list_items,
        methods=["GET"],
        response_model=page,
        operation_id=f"list_{r.name}",
        summary=f"List {r.name} (search, filter, sort, paginate)",
        tags=[r.name],
        dependencies=[READ],
    )

    def read(request: Request, response: Response, object_id: str) -> Any:
        return _etag(response, catalog(request).get(r, object_id))

    router.add_api_route(
        f"/{r.name}/{{object_id}}",
        read,
        methods=["GET"],
        response_model=out,
        operation_id=f"get_{r.singular}",
        summary=f"Read one {r.singular} (ETag = its version)",
        tags=[r.name],
        responses=NOT_FOUND,
        dependencies=[READ],
    )

    def create(request: Request, response: Response, body: create_in, user: User = EDIT) -> Any:  # type: ignore[valid-type]
        row = catalog(request).create(r, body.model_dump(), user.username)  # type: ignore[attr-defined]
        response.status_code = 201
        response.headers["Location"] = f"/api/v1/{r.name}/{row[r.key]}"
        return _etag(response, row)

    def create_device(
        request: Request,
        response: Response,
        body: create_in,  # type: ignore[valid-type]
        provision_key: bool = Query(False, description="also create the device's key (admins); shown once"),
        user: User = EDIT,
    ) -> Any:
        if provision_key and not user.can("admin"):
            raise HTTPException(403, f"role {user.role} may not create keys (needs admin)")
        row = create(request, response, body, user)
        if provision_key:
            try:
                row = {**row, "key": _provision(request, row[r.key], user, False, 0)}
            except WenulakeError as exc:
                raise ApiError(
                    503,
                    f"device {row[r.key]} was created, but its key could not be written ({exc}): create it "
                    f"with POST /api/v1/devices/{row[r.key]}/keys",
                ) from None
        response.headers["Cache-Control"] = "no-store"
        return row

    router.add_api_route(
        f"/{r.name}",
        create_device if r.name == "devices" else create,
        methods=["POST"],
        response_model=DeviceCreated if r.name == "devices" else out,
        status_code=201,
        operation_id=f"create_{r.singular}",
        summary=f"Create a {r.singular}",
        tags=[r.name],
        responses=INVALID,
    )

    def change(
        request: Request,
        response: Response,
        object_id: str,
        body: update_in,  # type: ignore[valid-type]
        if_match: str | None = Header(None),
        user: User = EDIT,
    ) -> Any:
        data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        version = _version(if_match, data.pop("version", None))
        effective_from = _instant(data.pop("effective_from", None), "effective_from")
        new_sensor_id = data.pop("new_sensor_id", None)
        row = catalog(request).update(
            r,
            object_id,
            data,
            version,
            user.username,
            effective_from=effective_from,
            new_sensor_id=new_sensor_id,
        )
        if row[r.key] != object_id:  # a new sensor version: the readings from its start are processed again
            response.headers["Location"] = f"/api/v1/{r.name}/{row[r.key]}"
            _queue_reprocessing(request, object_id, row["valid_from"], user, response)
        return _etag(response, row)

    router.add_api_route(
        f"/{r.name}/{{object_id}}",
        change,
        methods=["PATCH"],
        response_model=out,
        operation_id=f"update_{r.singular}",
        summary=f"Change a {r.singular}"
        + (
            " (metric/unit/kind/scale/offset: a new sensor version from effective_from)"
            if r.name == "sensors"
            else ""
        ),
        tags=[r.name],
        responses={**NOT_FOUND, **INVALID, **VERSIONED},
    )

    def retire(
        request: Request,
        response: Response,
        object_id: str,
        body: RetireIn | None = None,
        if_match: str | None = Header(None),
        user: User = EDIT,
    ) -> Any:
        body = body or RetireIn()
        version = _version(if_match, body.version)
        row = catalog(request).retire(r, object_id, version, user.username, _instant(body.at, "at"))
        if r.name == "sensors":  # its readings from the end date on no longer belong to it
            _queue_reprocessing(request, object_id, row["valid_to"], user, response)
        return _etag(response, row)

    router.add_api_route(
        f"/{r.name}/{{object_id}}/retire",
        retire,
        methods=["POST"],
        response_model=out,
        operation_id=f"retire_{r.singular}",
        summary=f"Retire a {r.singular} ("
        + ("active = false" if r.retire_column == "active" else f"sets {r.retire_column}")
        + "; nothing is deleted)",
        tags=[r.name],
        responses={**NOT_FOUND, **INVALID, **VERSIONED},
    )

    def history(
        request: Request,
        object_id: str,
        limit: int = Query(50, ge=1, le=500),
        offset: int = Query(0, ge=0, le=10_000_000),
    ) -> Any:
        result = catalog(request).history(r.name, object_id, limit, offset)
        return {"items": result.rows, "total": result.total, "limit": limit, "offset": offset}

    router.add_api_route(
        f"/{r.name}/{{object_id}}/history",
        history,
        methods=["GET"],
        response_model=ChangePage,
        operation_id=f"history_{r.singular}",
        summary=f"A {r.singular}'s changes, newest first",
        tags=[r.name],
        dependencies=[READ],
    )


for _resource in RESOURCES.values():
    _add_resource(_resource)


@router.get(
    "/sensors/{object_id}/impact",
    response_model=SensorImpact,
    operation_id="sensor_change_impact",
    tags=["sensors"],
    responses=NOT_FOUND,
)
def sensor_impact(
    request: Request,
    object_id: str,
    effective_from: datetime = Query(description="when the change would start (ISO 8601)"),
    _user: User = READ,
) -> Any:
    """Before changing a sensor's calibration or end from a date: the readings, periods and tables it touches.
    Saving the change queues the sensors DAG over the arrival hours shown (a `reprocess` job)."""
    from wenulake.service.inbox import sensor_change_impact

    catalog(request).get(RESOURCES["sensors"], object_id)
    if effective_from.tzinfo is None:
        raise ApiError(422, "effective_from needs a time zone (e.g. 2026-04-04T00:00:00Z)")
    return sensor_change_impact(request.app.state.settings, object_id, effective_from)


@router.get("/changes", response_model=ChangePage, operation_id="list_changes", tags=["changes"])
def list_changes(
    request: Request,
    resource: Literal[tuple(RESOURCES)] | None = Query(None),  # type: ignore[valid-type]
    object_id: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10_000_000),
    _user: User = READ,
) -> Any:
    """The global change log (audit): who, when, what, the row before and after; newest first."""
    result = catalog(request).history(resource, object_id, limit, offset)
    return {"items": result.rows, "total": result.total, "limit": limit, "offset": offset}


@router.get(
    "/quarantine", response_model=list[QuarantineGroup], operation_id="quarantine_inbox", tags=["quarantine"]
)
def quarantine(
    request: Request,
    device_id: str | None = Query(None, max_length=200),
    _user: User = READ,
) -> Any:
    """Unresolved unknown_device / unknown_channel readings grouped by device and channel."""
    from wenulake.service.inbox import quarantine_groups

    return quarantine_groups(request.app.state.settings, catalog(request), device_id)


@router.get("/jobs", response_model=list[JobOut], operation_id="list_jobs", tags=["jobs"])
def list_jobs(
    request: Request,
    status: Literal["queued", "running", "submitted", "done", "failed"] | None = Query(None),
    _user: User = READ,
) -> Any:
    """Queued work and its status, newest first."""
    return jobs.recent(catalog(request).engine, status=status)


@router.post("/jobs", response_model=JobOut, status_code=202, operation_id="queue_job", tags=["jobs"])
def queue_job(request: Request, body: JobIn | None = None, user: User = EDIT) -> Any:
    """Queue a replay of the enrichment quarantine against today's catalog (run by the server's worker or
    `wenulake catalog apply`)."""
    body = body or JobIn()
    job = jobs.queue(catalog(request).engine, body.kind, {"reasons": list(body.reasons)}, user.username)
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    return job


@router.get(
    "/jobs/{job_id}", response_model=JobOut, operation_id="get_job", tags=["jobs"], responses=NOT_FOUND
)
def get_job(request: Request, job_id: int, _user: User = READ) -> Any:
    try:
        return jobs.get(catalog(request).engine, job_id)
    except WenulakeError as exc:
        raise ApiError(404, str(exc)) from None


@router.get("/me", response_model=MeOut, operation_id="me", tags=["users"])
def me(user: User = READ) -> Any:
    """Who the token belongs to, and their role."""
    return {"username": user.username, "role": user.role}


@router.post(
    "/tokens", response_model=TokenOut, status_code=201, operation_id="create_token", tags=["users"],
    responses={422: {"model": ErrorOut}},
)  # fmt: skip
def create_token(request: Request, body: TokenIn, user: User = ADMIN) -> Any:
    """A new API token for a user (admins only); the token is in this answer and nowhere else."""
    try:
        token = users.create_token(catalog(request).engine, body.username, body.name, user.username)
    except WenulakeError as exc:
        raise ApiError(422, str(exc)) from None
    return {"username": body.username, "name": body.name, "token": token}


def _token_info(row: dict[str, Any]) -> dict[str, Any]:
    """A token as the API shows it: its public id, owner, name and dates (never the token or its hash)."""
    return {k: row[k] for k in ("token_id", "username", "name", "created_at", "revoked_at")}


def _user_row(engine: Any, username: str) -> dict[str, Any]:
    """One user as `users.list_users` gives it."""
    return next(r for r in users.list_users(engine) if r["username"] == username)


@router.get(
    "/tokens", response_model=list[TokenInfoOut], operation_id="list_tokens", tags=["users"]
)  # fmt: skip
def list_tokens(request: Request, _user: User = ADMIN) -> Any:
    """Every API token: public id, owner, name, created and revoked dates (never the token or its hash)."""
    return [_token_info(row) for row in users.list_tokens(catalog(request).engine)]


@router.post(
    "/tokens/{token_id}/revoke", response_model=TokenInfoOut, operation_id="revoke_token", tags=["users"],
    responses=NOT_FOUND,
)  # fmt: skip
def revoke_token(request: Request, token_id: str, user: User = ADMIN) -> Any:
    """Revoke a token by its public id: requests with it get 401 from then on."""
    engine = catalog(request).engine
    try:
        users.revoke_token(engine, token_id, user.username)
    except WenulakeError as exc:
        raise ApiError(404, str(exc)) from None
    return _token_info(
        next(r for r in users.list_tokens(engine) if r["token_id"] == token_id and r["revoked_at"])
    )


@router.get("/users", response_model=list[UserOut], operation_id="list_users", tags=["users"])
def list_users(request: Request, _user: User = ADMIN) -> Any:
    """Every user, with role and whether they may sign in."""
    return users.list_users(catalog(request).engine)


@router.post(
    "/users", response_model=UserOut, status_code=201, operation_id="create_user", tags=["users"],
    responses=INVALID,
)  # fmt: skip
def create_user(request: Request, body: UserIn, user: User = ADMIN) -> Any:
    """A new user who signs in to the backoffice (409 when the name is taken; 422 for a role or password the
    rules refuse, with the same messages as `wenulake users add`)."""
    engine = catalog(request).engine
    if users.user_exists(engine, body.username.strip()):
        raise ApiError(409, f"user {body.username.strip()!r} already exists")
    try:
        made = users.add_user(engine, body.username, body.password, body.role, user.username)
    except WenulakeError as exc:
        raise ApiError(422, str(exc)) from None
    return _user_row(engine, made.username)


@router.post(
    "/users/{username}/disable", response_model=UserOut, operation_id="disable_user", tags=["users"],
    responses={**NOT_FOUND, **INVALID},
)  # fmt: skip
def disable_user(request: Request, username: str, user: User = ADMIN) -> Any:
    """Disable a user: no more sign-in; their sessions and tokens stop working at the next request. An admin
    cannot disable themselves (409: the last admin would lock everyone out)."""
    if username == user.username:
        raise ApiError(409, "you cannot disable yourself: ask another admin")
    engine = catalog(request).engine
    try:
        users.disable_user(engine, username, user.username)
    except WenulakeError as exc:
        raise ApiError(404, str(exc)) from None
    return _user_row(engine, username)


# -- device keys (admins) ------------------------------------------------------------------------------------------
@router.get(
    "/devices/{object_id}/keys", response_model=list[DeviceKeyOut], operation_id="list_device_keys",
    tags=["devices"], responses=NOT_FOUND,
)  # fmt: skip
def list_device_keys(request: Request, object_id: str, _user: User = ADMIN) -> Any:
    """The device's keys in the keyring (ids and retirement dates; never the keys)."""
    from wenulake.service.provisioning import device_keys

    catalog(request).get(RESOURCES["devices"], object_id)
    return device_keys(request.app.state.settings, object_id)


@router.post(
    "/devices/{object_id}/keys", response_model=NewKeyOut, status_code=201, operation_id="create_device_key",
    tags=["devices"], responses={**NOT_FOUND, **INVALID, 503: {"model": ErrorOut}},
)  # fmt: skip
def create_device_key(request: Request, response: Response, object_id: str, body: KeyIn | None = None,
                      user: User = ADMIN) -> Any:  # fmt: skip
    """Create the device's key (409 when it has an active one), or rotate it (`rotate`: a new key, the active
    ones retired after `grace_hours`). The key is in this answer only."""
    body = body or KeyIn()
    response.headers["Cache-Control"] = "no-store"
    return _provision(request, object_id, user, body.rotate, body.grace_hours, body.min_format)


@router.post(
    "/devices/{object_id}/keys/{key_id}/retire", response_model=DeviceKeyOut, operation_id="retire_device_key",
    tags=["devices"], responses={**NOT_FOUND, **INVALID, 503: {"model": ErrorOut}},
)  # fmt: skip
def retire_device_key(
    request: Request, object_id: str, key_id: str, body: RetireIn | None = None, user: User = ADMIN
) -> Any:
    """Retire one key of the device (default now): records received from then on are refused."""
    from wenulake.service.provisioning import device_keys, retire_key

    at = _instant((body or RetireIn()).at, "at")
    settings = request.app.state.settings
    when = retire_key(settings, catalog(request), object_id, key_id, user.username, at)
    [key] = [k for k in device_keys(settings, object_id) if k["key_id"] == key_id]
    return {**key, "retired_at": when, "active": when > datetime.now(UTC)}
