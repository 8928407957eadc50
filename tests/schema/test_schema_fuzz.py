"""Schemathesis against the OpenAPI document, every REST endpoint (the operator API too, with
a token configured): no 5xx, every answer (errors included) in its documented shape.

Driven through Hypothesis directly, one operation at a time, with valid and invalid data
(schemathesis' pytest plugin does not load under this pytest). Invalid data is not required
to be refused: unknown query parameters and fields are tolerated on purpose (old clients send
more than we read); whatever the answer, it must be a documented one.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)
from schemathesis.generation import GenerationMode

from publicrooms.settings import LimitSettings
from tests.conftest import make_settings
from tests.support.live import LiveServer

TOKEN = "schema-fuzz-operator-token"
EXAMPLES = 50   # per operation and mode: about a minute for the whole document, CI or not
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> LiveServer:  # noqa: ANN001
    # Limits high enough that the fuzzer reaches the handlers (a 429 is documented anyway).
    server = LiveServer(make_settings(
        tmp_path_factory.mktemp("fuzz"), admin_token=TOKEN,
        limits=LimitSettings(rest_per_minute=1_000_000, join_per_minute=1_000_000,
                             admin_per_minute=1_000_000, violations_before_block=1_000_000,
                             reports_per_window=1_000_000))).start()
    yield server
    server.stop()


def operations(live: LiveServer) -> list:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.single_node
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_endpoint_answers_in_its_documented_shape(live, mode) -> None:  # noqa: ANN001
    failures: list[str] = []
    found = operations(live)
    assert len(found) >= 15, [op.label for op in found]
    for operation in found:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # noqa: ANN001
            case.call_and_validate(base_url=live.url,
                                   headers={"Authorization": f"Bearer {TOKEN}"},
                                   checks=CHECKS)

        try:
            fuzz()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to get wrong
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - all reported at once
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
