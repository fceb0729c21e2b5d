"""DATABASE_URL's query string reaches Django's OPTIONS with the types psycopg wants."""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobsite.database_url import database_from_url

BASE = "postgres://jobsite@127.0.0.1:5432/jobsite"
PLACES = {"base_dir": Path("/tmp"), "data_dir": Path("/tmp"), "conn_max_age": 0}


def test_server_side_binding_and_prepare_threshold_are_typed_as_psycopg_wants():
    options = database_from_url(
        f"{BASE}?server_side_binding=true&prepare_threshold=5&sslmode=disable", **PLACES
    )["OPTIONS"]
    assert options == {"server_side_binding": True, "prepare_threshold": 5, "sslmode": "disable"}
    options = database_from_url(
        f"{BASE}?server_side_binding=false&prepare_threshold=none", **PLACES
    )["OPTIONS"]
    assert options == {"server_side_binding": False, "prepare_threshold": None}


@pytest.mark.parametrize(
    "query, named",
    [
        ("server_side_binding=yes-please", "server_side_binding"),
        ("prepare_threshold=soon", "prepare_threshold"),
    ],
)
def test_a_bad_database_option_fails_naming_it(query, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        database_from_url(f"{BASE}?{query}", **PLACES)


def test_the_idle_in_transaction_timeout_joins_the_options_the_url_gave():
    options = database_from_url(
        f"{BASE}?options=-c%20search_path%3Djobs", **PLACES, idle_in_transaction_seconds=2.5
    )["OPTIONS"]
    assert options["options"] == "-c search_path=jobs -c idle_in_transaction_session_timeout=2500"
    assert (
        "options" not in database_from_url(BASE, **PLACES, idle_in_transaction_seconds=0)["OPTIONS"]
    )
