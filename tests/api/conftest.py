"""Fixtures for the API tests: clients holding a key, and a few small templates."""

import pytest
from rest_framework.test import APIClient

from jobsite.models import Role
from tests.jobs.helpers import make_template

GREET = """
slug: greet
name: Greet
type: demo
description: Says hello and writes a file.
variables:
  who: {type: string, default: world, description: Whom to greet.}
  times: {type: integer, default: 1, min: 1, max: 5}
  token: {type: secret, default: s3cret-value}
steps:
  - id: hello
    type: shell
    with:
      script: |
        echo "hello $VAR_WHO (token $VAR_TOKEN)"
        echo "WARN: just a warning"
        echo "who=$VAR_WHO" >> "$JOBSITE_OUTPUT"
        echo "greeting for $VAR_WHO" > "$JOBSITE_ARTIFACTS/hello.txt"
  - id: report
    type: report
    needs: [hello]
    with:
      markdown: "# Hello {{ vars.who }}"
settings:
  trigger_url: {enabled: true}
"""

FLAKY = """
slug: flaky
name: Flaky
type: demo
variables:
  fail: {type: boolean, default: true}
steps:
  - id: first
    type: noop
    with: {outputs: {a: 1}}
  - id: second
    type: shell
    needs: [first]
    with:
      script: |
        echo "trying"
        if [ "$VAR_FAIL" = "true" ]; then echo "ERROR: boom"; exit 1; fi
        echo "fine"
"""

SLOW = """
slug: slow
name: Slow
steps:
  - id: nap
    type: sleep
    with: {seconds: 30}
"""


def client_for(raw_key=None, **headers):
    client = APIClient()
    if raw_key:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {raw_key}")
    client.credentials(**headers)
    return client


@pytest.fixture
def admin_client(api_key):
    return client_for(api_key(Role.ADMIN))


@pytest.fixture
def operator_client(api_key):
    return client_for(api_key(Role.OPERATOR))


@pytest.fixture
def viewer_client(api_key):
    return client_for(api_key(Role.VIEWER))


@pytest.fixture
def outsider_client(api_key, other_workspace):
    """An admin key of the other workspace: it may do anything — there."""
    return client_for(api_key(Role.ADMIN, target=other_workspace))


@pytest.fixture
def greet(workspace):
    return make_template(workspace, GREET)


@pytest.fixture
def flaky(workspace):
    return make_template(workspace, FLAKY)


@pytest.fixture
def slow(workspace):
    return make_template(workspace, SLOW)
