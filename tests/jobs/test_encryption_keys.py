"""Encryption at rest with key rotation (SPEC §15): the first key of
JOBSITE_ENCRYPTION_KEY encrypts, every key decrypts, `rotate_encryption_key` moves
everything to the first key, and a removed key is said to be missing in one line."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from jobs.models import Job, WebhookEndpoint
from jobs.services import create_job
from tests.jobs.helpers import make_template

TEMPLATE = """
slug: sealed
name: Sealed
variables:
  tok: {type: secret, required: true}
steps:
  - id: a
    type: noop
    params:
      pw: {type: secret}
"""


def raw_column(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_rotation_re_encrypts_every_secret_with_the_new_key(workspace, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.JOBSITE_ENCRYPTION_KEYS = [old]
    template = make_template(workspace, TEMPLATE)
    job = create_job(
        workspace,
        template=template,
        variables={"tok": "tok-value-1"},
        params={"a": {"pw": "pw-value-2"}},
        start=False,
    )
    endpoint = WebhookEndpoint.objects.create(workspace=workspace, url="https://example.com/h")
    signing = endpoint.secret
    job_id = job.pk.hex if connection.vendor == "sqlite" else job.pk
    endpoint_id = endpoint.pk.hex if connection.vendor == "sqlite" else endpoint.pk
    sealed_by_old = raw_column("jobs_job", "sealed_secrets", job_id)
    assert sealed_by_old.startswith("fernet:") and "tok-value-1" not in sealed_by_old
    assert "whsec_" not in raw_column("jobs_webhookendpoint", "secret", endpoint_id)

    settings.JOBSITE_ENCRYPTION_KEYS = [new, old]  # the new key first; the old one still reads
    assert Job.objects.get(pk=job.pk).unsealed_values() == (
        {"tok": "tok-value-1"},
        {"a": {"pw": "pw-value-2"}},
    )
    call_command("rotate_encryption_key", stdout=open("/dev/null", "w"))
    assert raw_column("jobs_job", "sealed_secrets", job_id) != sealed_by_old

    settings.JOBSITE_ENCRYPTION_KEYS = [new]  # the old key gone: everything still reads
    assert Job.objects.get(pk=job.pk).unsealed_values()[0] == {"tok": "tok-value-1"}
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == signing

    settings.JOBSITE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # a wrong key
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted with any key"):
        Job.objects.get(pk=job.pk).unsealed_values()
