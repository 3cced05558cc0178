"""schemathesis against the running service's /openapi.json: generated requests (an admin's token) never get a
500, and every answer matches the documented status codes and response schemas. Bounded to a few examples per
operation so it runs in seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service_helpers import Service, running_service

EXAMPLES_PER_OPERATION = 4


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # the worker would run queued replays; their results are not what this test checks
    with running_service(
        tmp_path_factory.mktemp("svc-schema"), None, {"WENULAKE_SERVICE_RUN_JOBS": "false"}
    ) as s:
        yield s


def test_generated_requests_get_no_server_error_and_match_the_schema(svc):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(svc.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {svc.tokens['admin']}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures, operations, calls = [], 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case):  # type: ignore[no-untyped-def]
            calls.append(case.call_and_validate(base_url=svc.url, headers=headers, checks=checks).status_code)

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations > 40
    assert len(calls) >= 2 * operations
    assert {200, 404, 422} <= set(calls)  # the generated requests reach the handlers, not only the 422s
    assert not failures, "\n\n".join(failures)
