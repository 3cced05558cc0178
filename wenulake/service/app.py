"""The catalog service's ASGI app: the REST API under /api/v1, the backoffice pages at /, static files.

`create_app(settings)` builds it over the catalog database of `settings` (migrated on start);
`wenulake serve` runs it with uvicorn.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from wenulake.catalog.changes import Catalog, Conflict, Invalid, NotFound, StaleVersion
from wenulake.catalog.store import CatalogStore
from wenulake.errors import WenulakeError
from wenulake.service import admin_pages, api, pages
from wenulake.service.jobs import Worker
from wenulake.service.users import LoginLimiter
from wenulake.settings import Settings

HERE = Path(__file__).resolve().parent


def session_secret(settings: Settings) -> str:
    """WENULAKE_SERVICE_SECRET, or a random key created once in $WENULAKE_HOME/service-secret (mode 600)."""
    if settings.service_secret:
        return settings.service_secret
    path = settings.home / "service-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _error(status: int, detail: str, problems: list[Any] | None = None, headers: Any = None) -> JSONResponse:
    body = {"detail": detail, "problems": [{"field": p.column, "message": p.message} for p in problems or []]}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    catalog = Catalog(CatalogStore(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.worker is not None:
            app.state.worker.start()
        yield
        if app.state.worker is not None:
            app.state.worker.stop()

    app = FastAPI(
        title="wenulake catalog",
        version="1.0.0",
        description="The business catalog (companies, sites, devices, sensors with validity versions, "
        "thresholds, technicians, materials), its change history, the quarantine inbox and queued replays. "
        "Authenticate with `Authorization: Bearer <token>` (`wenulake users token USER`).",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.worker = Worker(settings, catalog.engine) if settings.service_run_jobs else None
    app.state.login_limiter = LoginLimiter(settings.service_login_failures, 60.0)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="wenulake_session",
        max_age=8 * 3600,
        same_site="strict",
        https_only=settings.service_secure_cookies,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(Invalid)
    async def invalid(_: Request, exc: Invalid) -> JSONResponse:
        return _error(422, f"{len(exc.problems)} problem(s): {exc}", exc.problems)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(StaleVersion)
    async def stale(_: Request, exc: StaleVersion) -> JSONResponse:
        return _error(412, str(exc), headers={"ETag": f'"{exc.current}"'})

    @app.exception_handler(api.ApiError)
    async def api_error(_: Request, exc: api.ApiError) -> JSONResponse:
        return _error(exc.status, exc.detail, exc.problems)

    @app.exception_handler(WenulakeError)
    async def wenulake_error(_: Request, exc: WenulakeError) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
            for e in exc.errors()
        ]
        return JSONResponse(
            {"detail": f"{len(problems)} problem(s) in the request", "problems": problems}, status_code=422
        )

    @app.exception_handler(pages.LoginRequired)
    async def login_required(request: Request, _: pages.LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(admin_pages.router)  # before pages: /users and /tokens are not catalog resources
    app.include_router(pages.router)  # last: its /{resource} pages would shadow the paths above
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, proxy_headers=True, log_level="info")
