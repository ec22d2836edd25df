"""docs/openapi.yaml describes every JSON route, and the app keeps to it under fuzzing.

The route check walks the URL map: every /api/ route, and every GET route that answers JSON to a
logged-in user, must be in the description (so a JSON route added later fails here until it is
described). Then schemathesis generates requests from the description, valid ones and ones that
break it (wrong types, missing fields, odd strings), and sends them to the app through WSGI:
never a 5xx, and every answer matches the status codes and schemas described.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_family, make_town, make_user
from tests.helpers import login

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "docs" / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH)
EXAMPLES = int(os.environ.get("DOORSTEP_FUZZ_EXAMPLES", "40"))  # per operation and mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATIONS = [(path, method) for path, item in SPEC["paths"].items() for method in item]


def _openapi_path(rule) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<{name}>", "{" + name + "}")
        for converter in ("int", "path", "string", "uuid"):
            path = path.replace(f"<{converter}:{name}>", "{" + name + "}")
    return path


def _described(path: str, method: str) -> bool:
    return method.lower() in SPEC["paths"].get(path, {})


def _town(app):
    with app.app_context():
        town = make_town("T01", villages=1)
        make_family(town.children[0].children[0], size=2)
        make_user("worker", "worker", [town.children[0]])
        make_user("boss", "supervisor", [town])


def test_every_json_route_is_in_the_openapi_description(app):
    _town(app)
    client = app.test_client()
    login(client, "worker")
    missing, json_routes = [], 0
    for rule in app.url_map.iter_rules():
        path = _openapi_path(rule)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        answers_json = path.startswith("/api/") or path.endswith(".json")
        if not answers_json and not rule.arguments and "GET" in methods:
            answers_json = client.get(path).mimetype == "application/json"
        if answers_json:
            json_routes += 1
            missing += [f"{method} {path}" for method in methods if not _described(path, method)]
    assert json_routes >= 5
    assert missing == [], "describe these JSON routes in docs/openapi.yaml"


def test_the_description_names_only_routes_that_exist(app):
    served = {(_openapi_path(rule), method.lower()) for rule in app.url_map.iter_rules() for method in rule.methods}
    assert [op for op in OPERATIONS if op not in served] == []


def _headers_and_cookies(app, path):
    """A worker's device token for /api/, their session cookie for the pages' JSON."""
    if path.startswith("/api/"):
        token = app.test_client().post("/api/login", json={"username": "worker", "password": "pw",
                                                            "device_name": "fuzz"}).get_json()["token"]
        return {"Authorization": f"Bearer {token}"}, {}
    browser = app.test_client()
    login(browser, "worker")
    return {}, {"session": browser.get_cookie("session").value}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_generated_requests_never_break_the_api(app, path, method, mode):
    _town(app)
    headers, cookies = _headers_and_cookies(app, path)
    operation = SCHEMA[path][method.upper()]
    seen = {"examples": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case):
        seen["examples"] += 1
        # identity: the WSGI transport hands the body over as sent, and answers are compressed when asked
        case.headers = {**(case.headers or {}), **headers, "Accept-Encoding": "identity"}
        response = case.call(app=app, cookies=cookies)
        case.validate_response(response, checks=CHECKS)

    try:
        send()
    except Exception as error:  # noqa: BLE001 (a generation that cannot negate this operation)
        if "negative" in str(error).lower() and seen["examples"] == 0:
            pytest.skip(f"nothing to negate in {method.upper()} {path}")
        raise
    assert seen["examples"] > 0
