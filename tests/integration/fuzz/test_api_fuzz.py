"""Every operation of the OpenAPI document, fuzzed in-process with schemathesis.

Expected of every answer, valid input or not, with the right token, a wrong one or none: no
5xx, a documented status code, the documented content type and a body that matches its
schema; and what the document allows is taken, what it does not is refused with a 4xx.
Per operation, ``YKMAKE_FUZZ_EXAMPLES`` examples (25 by default) of valid and as many of
invalid requests, with a fixed seed; two valid JSON bodies in five get text no column can
hold (a lone surrogate escape, or NUL) in one of their strings. Then the same checks over
chains of calls that follow the links.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import pytest
from hypothesis import given
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.fuzz.support import (
    AUTH,
    ENVIRONMENTS,
    EXCLUDED_TAGS,
    HOSTILE,
    OPEN,
    OPERATIONS,
    Service,
    examples,
    fuzz_settings,
    fuzzed_service,
    plant,
)

pytestmark = pytest.mark.integration

CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Valid input is accepted: what the document allows, the API takes (not for the examples
# whose body got hostile text planted in, which are no longer valid).
ACCEPTED: Final = [positive_data_acceptance]


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    environment: str = request.param
    with fuzzed_service(environment, tmp_path_factory.mktemp(environment)) as svc:
        yield svc


def call_and_check(
    service: Service, case: Case[Any], auth: str, hostile: str = "", at: int = 0
) -> Any:
    headers = service.headers(case.operation.label, auth)
    valid = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
    if hostile and valid and isinstance(case.body, dict | list):
        response = service.send_json(case, plant(case.body, hostile, at), headers)
        case.validate_response(response, checks=CHECKS)
    else:
        response = case.call(headers=headers)
        case.validate_response(response, checks=[*CHECKS, *ACCEPTED])
    return response


def test_the_fuzz_covers_every_documented_operation(service: Service) -> None:
    results = list(service.schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results)  # every operation's schema loads
    documented = {op.label for op in operations if not EXCLUDED_TAGS & set(op.tags or ())}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation(service: Service, label: str) -> None:
    operation = service.schema.find_operation_by_label(label)
    assert operation is not None
    cases = operation.as_strategy(GenerationMode.POSITIVE)
    runs = examples()
    if list(operation.iter_parameters()) or len(operation.body):
        # Invalid requests too, as many: only an operation with inputs can have those.
        cases |= operation.as_strategy(GenerationMode.NEGATIVE)
        runs *= 2

    @fuzz_settings(runs)
    @given(case=cases, auth=AUTH, hostile=HOSTILE)
    def fuzz(case: Case[Any], auth: str, hostile: tuple[str, int]) -> None:
        call_and_check(service, case, auth, *hostile)

    fuzz()


def test_linked_calls(service: Service) -> None:
    """Chains the links allow: create a product then read it; list alerts then show,
    acknowledge or resolve one (alerts come in through the webhook)."""

    class Workflow(service.schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            service.reset()

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"headers": service.headers(case.operation.label, "right")}

        def validate_response(self, response: Response, case: Case[Any], **kwargs: Any) -> None:
            case.validate_response(response, checks=[*CHECKS, *ACCEPTED])

    Workflow.run(settings=fuzz_settings(max(examples() // 2, 5), stateful_step_count=6))


@pytest.mark.parametrize("auth", ["wrong", "none"])
@pytest.mark.parametrize("label", [label for label in OPERATIONS if label not in OPEN])
def test_guarded_operations_refuse_without_the_token(
    service: Service, label: str, auth: str
) -> None:
    """Held apart from the fuzz, so a regression is named: each door refuses a stranger."""
    operation = service.schema.find_operation_by_label(label)
    assert operation is not None

    @fuzz_settings(3)
    @given(case=operation.as_strategy())
    def refused(case: Case[Any]) -> None:
        response = call_and_check(service, case, auth)
        assert response.status_code == 401, response.text

    refused()
