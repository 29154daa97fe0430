"""schemathesis drives the JSON API from its own OpenAPI document.

Whatever it generates, the API must answer without a server error, with a
status code, content type and body the document describes. (The operations
are driven through Hypothesis directly rather than schemathesis' pytest
plugin, which does not support this pytest version.)
"""

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tipdrop.web import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _operations(config):
    app = create_app(config | {"submits_per_hour": 10_000, "checks_per_hour": 10_000})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_api_document_has_every_operation(app_config):
    labels = {op.label for op in _operations(app_config)}
    assert labels == {"GET /api/v1/options", "POST /api/v1/tips", "POST /api/v1/check",
                      "POST /api/v1/followups", "GET /api/v1/stats",
                      "GET /api/v1/keys", "POST /api/v1/sealed-tips",
                      "POST /api/v1/sealed-followups"}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", ["GET /api/v1/options", "GET /api/v1/stats", "POST /api/v1/tips",
                                   "POST /api/v1/check", "POST /api/v1/followups",
                                   "POST /api/v1/sealed-followups"])
def test_api_answers_every_generated_request_as_documented(app_config, label, mode):
    [operation] = [op for op in _operations(app_config) if op.label == label]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def exercise(case):
        case.call_and_validate(checks=CHECKS)

    exercise()
