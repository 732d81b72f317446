"""API fuzzing: schemathesis generates requests from the app's OpenAPI schema; none may end in a 5xx
or an answer that breaks the schema. Bounded: a handful of examples per operation."""

from __future__ import annotations

import tempfile

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from workbench.config import Settings  # noqa: E402
from workbench.web.app import create_app  # noqa: E402
from workbench.service.workspace import ensure_demo, open_workspace  # noqa: E402

_settings = Settings.load(data_dir=tempfile.mkdtemp(prefix="wb-fuzz-"), database_url=None)
_settings = Settings(data_dir=_settings.data_dir, database_url=f"sqlite:///{_settings.data_dir / 'fuzz.db'}",
                     allowed_hosts=("testserver",))  # schemathesis sends Host: testserver
_store = open_workspace(_settings)
ensure_demo(_store)
app = create_app(_settings, store=_store, execute_runs=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_with_a_server_error(case):
    # The two properties asked for: no 5xx, and answers that match the schema they document.
    case.call_and_validate(headers={"X-Workbench-Client": "fuzz"},
                           checks=[not_a_server_error, response_schema_conformance])
