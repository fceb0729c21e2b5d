"""A job's callback is signed with the workspace's own callback secret, never a webhook
endpoint's (issue 12 item 5): an operator who points callback_url at their own server
must not obtain messages that verify at the admin's endpoint."""

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from jobs.models import WebhookEndpoint
from jobs.services import create_job
from jobsite.models import Role
from tests.jobs.helpers import make_template
from tests.jobs.test_webhooks import OK_TEMPLATE, Receiver


def test_an_operators_callback_does_not_verify_against_the_admins_endpoint(
    workspace, run_tasks, api_key, client, settings
):
    settings.JOBSITE_EGRESS_ALLOW = ["127.0.0.1"]
    admins_receiver, operators_receiver = Receiver(), Receiver()
    try:
        endpoint = WebhookEndpoint.objects.create(
            workspace=workspace, url=admins_receiver.url, events=["job.queued"]
        )
        operator = client.get(
            "/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer {api_key(Role.OPERATOR)}"
        )
        assert "callback_secret" not in operator.json()
        template = make_template(workspace, OK_TEMPLATE)
        create_job(workspace, template=template, callback_url=operators_receiver.url)
        run_tasks()
    finally:
        admins_receiver.close()
        operators_receiver.close()
    ((headers, body),) = operators_receiver.requests
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(body, headers)
    secret = client.get(
        "/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer {api_key(Role.ADMIN)}"
    ).json()["callback_secret"]
    assert secret != endpoint.secret
    assert Webhook(secret).verify(body, headers)["type"] == "job.succeeded"
