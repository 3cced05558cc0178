"""Admins' pages: users (list, create, disable) and API tokens (issue, shown once; revoke). Every change is in
the audit log (`users` / `tokens`), without passwords, hashes or tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from wenulake.errors import WenulakeError
from wenulake.service import users
from wenulake.service.pages import _csrf_ok, _flash, catalog, forbidden, page_user, render
from wenulake.service.users import ROLES, User

router = APIRouter(include_in_schema=False)


def _admin(request: Request) -> tuple[User, Response | None]:
    user = page_user(request)
    if not user.can("admin"):
        return user, forbidden(request, user, f"Role {user.role} cannot manage users or tokens.")
    return user, None


def _users_page(request: Request, user: User, status: int = 200, **context: object) -> Response:
    engine = catalog(request).engine
    context.setdefault("values", {"role": "viewer"})
    context.setdefault("errors", {})
    return render(
        request, "users.html", status, user=user, users=users.list_users(engine), tokens=users.list_tokens(engine),
        roles=ROLES, **context,
    )  # fmt: skip


@router.get("/users")
def users_page(request: Request) -> Response:
    user, refused = _admin(request)
    return refused or _users_page(request, user)


@router.post("/users/new")
async def create_user(request: Request) -> Response:
    user, refused = _admin(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if refused:
        return refused
    values = {k: str(form.get(k, "")) for k in ("username", "role")}
    try:
        users.add_user(
            catalog(request).engine, values["username"], str(form.get("password", "")), values["role"],
            user.username,
        )  # fmt: skip
    except WenulakeError as exc:
        return _users_page(request, user, 422, values=values, errors={"_": [str(exc)]})
    _flash(request, f"User {values['username'].strip()} created ({values['role']}).")
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username}/disable")
async def disable(request: Request, username: str) -> Response:
    user, refused = _admin(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if refused:
        return refused
    if username == user.username:
        _flash(request, "You cannot disable yourself.")
        return RedirectResponse("/users", status_code=303)
    try:
        users.disable_user(catalog(request).engine, username, user.username)
    except WenulakeError as exc:
        _flash(request, str(exc))
    else:
        _flash(request, f"User {username} disabled: their sessions and tokens stop working now.")
    return RedirectResponse("/users", status_code=303)


@router.post("/tokens/new")
async def issue_token(request: Request) -> Response:
    user, refused = _admin(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if refused:
        return refused
    owner, name = str(form.get("username", "")), str(form.get("name", "")).strip() or "integration"
    try:
        token = users.create_token(catalog(request).engine, owner, name, user.username)
    except WenulakeError as exc:
        return _users_page(request, user, 422, errors={"token": [str(exc)]})
    response = render(request, "token_once.html", 201, user=user, owner=owner, name=name, token=token)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/tokens/{public_id}/revoke")
async def revoke(request: Request, public_id: str) -> Response:
    user, refused = _admin(request)
    form = await request.form()
    if not _csrf_ok(request, form):
        return forbidden(request, user, "The form expired (CSRF check): reload the page and try again.")
    if refused:
        return refused
    try:
        users.revoke_token(catalog(request).engine, public_id, user.username)
    except WenulakeError as exc:
        _flash(request, str(exc))
    else:
        _flash(request, f"Token {public_id} revoked.")
    return RedirectResponse("/users", status_code=303)
