"""The backoffice: server-rendered pages (Jinja2, plain forms, no JavaScript build) over the same operations as
the API. Signed-cookie sessions; every form carries the session's CSRF token and every edit the row's version.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from wenulake.catalog.changes import RESOURCES, Catalog, Conflict, Invalid, NotFound, Resource, StaleVersion
from wenulake.catalog.schema import SEVERITIES
from wenulake.catalog.validation import Checker, FieldProblem
from wenulake.errors import WenulakeError
from wenulake.service import jobs, users
from wenulake.service.users import User
from wenulake.timeutil import iso
from wenulake.units import KINDS, UNITS

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
PAGE_SIZE = 25

CHOICES: dict[str, list[str]] = {"metric": list(UNITS), "kind": list(KINDS), "severity": list(SEVERITIES)}
HINTS = {
    "valid_from": "ISO 8601 UTC, e.g. 2026-04-04T00:00:00Z",
    "installed_at": "ISO 8601 UTC, optional",
    "report_interval_s": "seconds between the device's messages, optional (empty = learned from its messages)",
    "effective_from": "ISO 8601 UTC; the new version is valid from here (default now)",
    "timezone": "IANA time zone, e.g. Europe/Madrid",
    "unit": "temperature °C, C, °F, F, K · humidity % · co2 ppm · power W, kW · energy kWh, Wh",
    "scale": "value = to_canonical(raw) × scale + offset (default 1)",
    "offset": "default 0",
    "sensor_id": "empty = the metric's default threshold",
}
#: a detail page lists the children of the object
CHILDREN = {
    "companies": ("sites", "company_id"),
    "sites": ("devices", "site_id"),
    "devices": ("sensors", "device_id"),
    "sensors": ("thresholds", "sensor_id"),
}


class LoginRequired(Exception):
    """Raised by a page that needs a signed-in user; answered with a redirect to /login."""


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if isinstance(value, datetime) else _display(value)


templates.env.filters["show"] = _display
templates.env.filters["when"] = _when


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def _csrf_ok(request: Request, form: Any) -> bool:
    sent = str(form.get("csrf_token", ""))
    expected = request.session.get("csrf", "")
    return bool(sent and expected) and secrets.compare_digest(sent, str(expected))


def page_user(request: Request) -> User:
    username = request.session.get("user")
    user = users.get_user(request.app.state.catalog.engine, username) if username else None
    if user is None:
        request.session.pop("user", None)
        raise LoginRequired()
    return user


def catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", None)
    context.update(
        csrf=csrf_token(request),
        resources=RESOURCES,
        flash=request.session.pop("flash", None),
    )
    return templates.TemplateResponse(request, template, context, status_code=status)


def forbidden(request: Request, user: User, what: str) -> HTMLResponse:
    return render(request, "message.html", 403, user=user, title="Not allowed", message=what)


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


router = APIRouter(include_in_schema=False)


# -- sign in -------------------------------------------------------------------------------------------------------
def _safe_next(value: str | None) -> str:
    # a path of this site only: "//host" and "/\\host" are other sites to browsers
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and "\n" not in value:
        return value
    return "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    target = _safe_next(str(form.get("next", "/")))
    if not _csrf_ok(request, form):
        return render(
            request, "login.html", 403, next=target, error="The form expired: please sign in again."
        )
    username = str(form.get("username", ""))
    address = request.client.host if request.client else "unknown"
    limiter: users.LoginLimiter = request.app.state.login_limiter
    wait = limiter.retry_after(username, address)
    if wait:
        response = render(
            request, "login.html", 429, next=target,
            error=f"Too many failed sign-ins for this user or from this address: try again in {wait} seconds.",
        )  # fmt: skip
        response.headers["Retry-After"] = str(wait)
        return response
    user = users.authenticate(catalog(request).engine, username, str(form.get("password", "")))
    if user is None:
        limiter.failed(username, address)
        return render(request, "login.html", 401, next=target, error="Wrong user name or password.")
    limiter.succeeded(username)
    request.session.clear()
    request.session["user"] = user.username
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    if _csrf_ok(request, form):
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


# -- dashboard, change log, quarantine, jobs ---------------------------------------------------------------------
def _quarantine(request: Request, device_id: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    from wenulake.service.inbox import quarantine_groups

    try:
        return quarantine_groups(request.app.state.settings, catalog(request), device_id), None
    except WenulakeError as exc:
        return [], f"the lake's quarantine cannot be read: {exc}"


@router.get("/")
def dashboard(request: Request) -> Response:
    user = page_user(request)
    groups, error = _quarantine(request)
    return render(
        request,
        "dashboard.html",
        user=user,
        counts=catalog(request).counts(),
        changes=catalog(request).history(limit=10).rows,
        groups=groups[:10],
        backlog=sum(g["readings"] for g in groups),
        unregistered=len({g["device_id"] for g in groups if not g["device_registered"]}),
        quarantine_error=error,
        jobs=jobs.recent(catalog(request).engine, limit=5),
    )


@router.get("/changes")
def changes(
    request: Request, resource: str | None = None, object_id: str | None = None, page: int = 1
) -> Response:
    user = page_user(request)
    page = max(page, 1)
    result = catalog(request).history(
        resource if resource in RESOURCES else None, object_id or None, PAGE_SIZE, (page - 1) * PAGE_SIZE
    )
    query = {k: v for k, v in {"resource": resource, "object_id": object_id}.items() if v}
    return render(
        request, "changes.html", user=user, changes=result.rows, total=result.total, page=page,
        pages=max(1, math.ceil(result.total / PAGE_SIZE)), query=query, resource=resource, object_id=object_id,
    )  # fmt: skip


@router.get("/quarantine")
def quarantine(request: Request) -> Response:
    user = page_user(request)
    groups, error = _quarantine(request)
    return render(request, "quarantine.html", user=user, groups=groups, error=error)


@router.get("/jobs")
def jobs_page(request: Request) -> Response:
    user = page_user(request)
    return render(request, "jobs.html", user=user, jobs=jobs.recent(catalog(request).engine))


@router.post("/jobs")
async def queue_job(request: Request) -> Response:
    user = page_user(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if not user.can("edit"):
        return forbidden(request, user, f"Role {user.role} cannot queue work.")
    job = jobs.queue(catalog(request).engine, "replay", {"reasons": list(jobs.REPLAY_REASONS)}, user.username)
    if request.app.state.worker is not None:
        request.app.state.worker.wake()
    _flash(request, f"Replay queued as job {job['job_id']}.")
    return RedirectResponse("/jobs", status_code=303)


# -- catalog resources ---------------------------------------------------------------------------------------------
def _form_fields(resource: Resource, create: bool) -> list[str]:
    fields = list(resource.create_fields if create else resource.update_fields)
    if resource.name == "technicians" and create:
        fields.append("active")
    return fields


@router.get("/{name}")
def list_page(
    request: Request,
    name: str,
    q: str | None = None,
    page: int = 1,
    sort: str | None = None,
    order: str = "asc",
) -> Response:
    user = page_user(request)
    if name not in RESOURCES:
        return render(
            request, "message.html", 404, user=user, title="Not found", message=f"No page {name!r}."
        )
    r = RESOURCES[name]
    page = max(page, 1)
    filters = {c: request.query_params[c] for c in r.filters if request.query_params.get(c)}
    result = catalog(request).list(
        r, q=q, filters=filters, sort=sort if sort in r.columns else None, descending=order == "desc",
        limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
    )  # fmt: skip
    base = {k: v for k, v in {"q": q, "sort": sort, "order": order, **filters}.items() if v}
    return render(
        request, "list.html", user=user, r=r, rows=result.rows, total=result.total, page=page,
        pages=max(1, math.ceil(result.total / PAGE_SIZE)), q=q or "", sort=sort, order=order, filters=filters,
        query=urlencode(base), base=base,
    )  # fmt: skip


@router.get("/{name}/new")
def new_page(request: Request, name: str) -> Response:
    user = page_user(request)
    if name not in RESOURCES:
        return render(
            request, "message.html", 404, user=user, title="Not found", message=f"No page {name!r}."
        )
    r = RESOURCES[name]
    if not user.can("edit"):
        return forbidden(request, user, f"Role {user.role} cannot create {r.name}.")
    values = {f: request.query_params.get(f, "") for f in _form_fields(r, True)}
    if r.name == "technicians" and not values.get("active"):
        values["active"] = "true"
    preview = None
    if r.name == "devices" and values.get("device_id"):  # what registering it would resolve
        groups, error = _quarantine(request, values["device_id"])
        preview = {"groups": groups, "error": error, "readings": sum(g["readings"] for g in groups),
                   "channels": sorted({g["channel"] for g in groups if g["channel"]})}  # fmt: skip
    return render(
        request, "form.html", user=user, r=r, fields=_form_fields(r, True), values=values, errors={},
        preview=preview,
    )  # fmt: skip


def _errors(problems: list[FieldProblem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.column or "_", []).append(p.message)
    return out


@router.post("/{name}/new")
async def create(request: Request, name: str) -> Response:
    user = page_user(request)
    r = RESOURCES.get(name)
    if r is None:
        return render(
            request, "message.html", 404, user=user, title="Not found", message=f"No page {name!r}."
        )
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if not user.can("edit"):
        return forbidden(request, user, f"Role {user.role} cannot create {r.name}.")
    values = {f: str(form.get(f, "")) for f in _form_fields(r, True)}
    try:
        row = catalog(request).create(r, values, user.username)
    except Invalid as exc:
        return render(request, "form.html", 422, user=user, r=r, fields=_form_fields(r, True), values=values,
                      errors=_errors(exc.problems))  # fmt: skip
    except Conflict as exc:
        return render(request, "form.html", 409, user=user, r=r, fields=_form_fields(r, True), values=values,
                      errors={"_": [str(exc)]})  # fmt: skip
    if r.name == "devices" and form.get("provision_key") and user.can("admin"):
        return _show_new_key(request, user, row[r.key], False, 0, f"Device {row[r.key]} created.")
    _flash(request, f"{r.singular.capitalize()} {row[r.key]} created.")
    return RedirectResponse(f"/{r.name}/{row[r.key]}", status_code=303)


def _detail(
    request: Request, user: User, r: Resource, row: dict[str, Any], status: int = 200,
    values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None, version: int | None = None,
    impact: dict[str, Any] | None = None, impact_from: str = "",
) -> Response:  # fmt: skip
    fields = _form_fields(r, False)
    children = None
    if r.name in CHILDREN:
        child_name, column = CHILDREN[r.name]
        child = RESOURCES[child_name]
        children = (child, catalog(request).list(child, filters={column: row[r.key]}, limit=100).rows, column)
    groups, quarantine_error = _quarantine(request, row["device_id"]) if r.name == "devices" else ([], None)
    keys: list[dict[str, Any]] = []
    keys_error = None
    if r.name == "devices" and user.can("admin"):
        from wenulake.service.provisioning import device_keys

        try:
            keys = device_keys(request.app.state.settings, row["device_id"])
        except WenulakeError as exc:
            keys_error = f"the keyring cannot be read: {exc}"
    return render(
        request, "detail.html", status, user=user, r=r, row=row, fields=fields,
        values=values or {f: _display(row[f]) for f in fields}, errors=errors or {},
        version=row["version"] if version is None else version, retired=r.is_retired(row),
        history=catalog(request).history(r.name, row[r.key], limit=50).rows, children=children,
        groups=groups, quarantine_error=quarantine_error, impact=impact, impact_from=impact_from, keys=keys,
        keys_error=keys_error,
    )  # fmt: skip


def _reprocess(request: Request, sensor_id: str, start: datetime, user: User) -> str:
    """Queue the reprocessing a sensor change needs; the flash message's tail."""
    from wenulake.service.inbox import queue_reprocessing

    try:
        job = queue_reprocessing(
            request.app.state.settings, catalog(request), sensor_id, start, user.username
        )
    except WenulakeError as exc:
        return f" The processed data could not be checked ({exc}): reprocess it by hand."
    if job is None:
        return " No processed reading is affected."
    return f" Reprocessing of its readings queued as job {job['job_id']} (see Work)."


@router.get("/{name}/{object_id}")
def detail(request: Request, name: str, object_id: str, impact_from: str | None = None) -> Response:
    user = page_user(request)
    r = RESOURCES.get(name)
    try:
        if r is None:
            raise NotFound(f"no page {name!r}")
        row = catalog(request).get(r, object_id)
    except NotFound as exc:
        return render(request, "message.html", 404, user=user, title="Not found", message=str(exc))
    impact: dict[str, Any] | None = None
    errors: dict[str, list[str]] = {}
    if r.name == "sensors" and impact_from:
        from wenulake.service.inbox import sensor_change_impact

        checker = Checker()
        start = checker.instant({"impact_from": impact_from}, "impact_from", required=True)
        if start is None:
            errors = _errors(checker.problems)
        else:
            try:
                impact = sensor_change_impact(request.app.state.settings, object_id, start)
            except WenulakeError as exc:
                errors = {"impact_from": [f"the processed data cannot be read: {exc}"]}
    return _detail(request, user, r, row, errors=errors, impact=impact, impact_from=impact_from or "")


@router.post("/{name}/{object_id}/edit")
async def edit(request: Request, name: str, object_id: str) -> Response:
    user = page_user(request)
    r = RESOURCES.get(name)
    form = await request.form()
    try:
        if r is None:
            raise NotFound(f"no page {name!r}")
        current = catalog(request).get(r, object_id)
    except NotFound as exc:
        return render(request, "message.html", 404, user=user, title="Not found", message=str(exc))
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if not user.can("edit"):
        return forbidden(request, user, f"Role {user.role} cannot change {r.name}.")
    values = {f: str(form.get(f, "")) for f in _form_fields(r, False)}
    changes = {f: v for f, v in values.items() if v != _display(current[f])}
    try:
        version = int(str(form.get("version", "")))
    except ValueError:
        version = -1
    effective_from = None
    checker = Checker()
    if r.name == "sensors":
        values["effective_from"] = str(form.get("effective_from", ""))
        values["new_sensor_id"] = str(form.get("new_sensor_id", ""))
        effective_from = checker.instant(values, "effective_from", required=False)
    try:
        if checker.problems:
            raise Invalid(checker.problems)
        row = catalog(request).update(
            r, object_id, changes, version, user.username, effective_from=effective_from,
            new_sensor_id=values.get("new_sensor_id") or None,
        )  # fmt: skip
    except Invalid as exc:
        return _detail(request, user, r, current, 422, values, _errors(exc.problems), version)
    except (Conflict, NotFound) as exc:
        return _detail(request, user, r, current, 409, values, {"_": [str(exc)]}, version)
    except StaleVersion as exc:
        message = f"{exc} Your values are kept below; the current ones are in the table above."
        return _detail(request, user, r, current, 409, values, {"_": [message]}, version)
    if row[r.key] != object_id:
        queued = _reprocess(request, object_id, row["valid_from"], user)
        _flash(
            request,
            f"Sensor {object_id} closed; new version {row[r.key]} from {iso(row['valid_from'])}.{queued}",
        )
    else:
        _flash(request, f"{r.singular.capitalize()} {object_id} saved.")
    return RedirectResponse(f"/{r.name}/{row[r.key]}", status_code=303)


@router.post("/{name}/{object_id}/retire")
async def retire(request: Request, name: str, object_id: str) -> Response:
    user = page_user(request)
    r = RESOURCES.get(name)
    form = await request.form()
    try:
        if r is None:
            raise NotFound(f"no page {name!r}")
        current = catalog(request).get(r, object_id)
    except NotFound as exc:
        return render(request, "message.html", 404, user=user, title="Not found", message=str(exc))
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if not user.can("edit"):
        return forbidden(request, user, f"Role {user.role} cannot retire {r.name}.")
    checker = Checker()
    at = checker.instant({"at": form.get("at")}, "at", required=False)
    try:
        version = int(str(form.get("version", "")))
        if checker.problems:
            raise Invalid(checker.problems)
        retired = catalog(request).retire(r, object_id, version, user.username, at)
    except ValueError:
        return _detail(request, user, r, current, 422, errors={"_": ["the form lost its version: reload"]})
    except Invalid as exc:
        return _detail(request, user, r, current, 422, errors=_errors(exc.problems))
    except (Conflict, StaleVersion) as exc:
        return _detail(request, user, r, current, 409, errors={"_": [str(exc)]})
    queued = _reprocess(request, object_id, retired["valid_to"], user) if r.name == "sensors" else ""
    _flash(request, f"{r.singular.capitalize()} {object_id} retired.{queued}")
    return RedirectResponse(f"/{r.name}/{object_id}", status_code=303)


# -- device keys (admins) ------------------------------------------------------------------------------------------
def _show_new_key(
    request: Request, user: User, device_id: str, rotate: bool, grace_hours: float, done: str
) -> Response:
    """Create (or rotate) the device's key and show it on a page of its own, once: it is in this answer only
    (not in the session, not cached)."""
    from datetime import timedelta

    from wenulake.service.provisioning import provision

    try:
        made = provision(
            request.app.state.settings, catalog(request), device_id, user.username, rotate,
            timedelta(hours=grace_hours),
        )  # fmt: skip
    except (Conflict, NotFound, WenulakeError) as exc:
        _flash(request, f"{done} The key was not created: {exc}".strip())
        return RedirectResponse(f"/devices/{device_id}", status_code=303)
    response = render(request, "key_once.html", 201, user=user, made=made, done=done)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/devices/{device_id}/keys")
async def device_key(request: Request, device_id: str) -> Response:
    user = page_user(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if not user.can("admin"):
        return forbidden(request, user, f"Role {user.role} cannot create or rotate device keys.")
    rotate = form.get("rotate") == "1"
    try:
        grace = float(str(form.get("grace_hours") or 24))
    except ValueError:
        grace = -1
    if not 0 <= grace <= 720:
        _flash(request, "The grace period must be between 0 and 720 hours.")
        return RedirectResponse(f"/devices/{device_id}", status_code=303)
    return _show_new_key(request, user, device_id, rotate, grace, "")


@router.post("/devices/{device_id}/keys/{key_id}/retire")
async def device_key_retire(request: Request, device_id: str, key_id: str) -> Response:
    from wenulake.service.provisioning import retire_key

    user = page_user(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if not user.can("admin"):
        return forbidden(request, user, f"Role {user.role} cannot retire device keys.")
    try:
        retire_key(request.app.state.settings, catalog(request), device_id, key_id, user.username)
    except (NotFound, WenulakeError) as exc:
        _flash(request, f"Key {key_id} was not retired: {exc}")
    else:
        _flash(request, f"Key {key_id} retired: records received from now on with it are refused.")
    return RedirectResponse(f"/devices/{device_id}", status_code=303)


templates.env.globals.update(CHOICES=CHOICES, HINTS=HINTS, urlencode=urlencode)
