"""jobsite/settings.py read from the environment: a bad value stops the start with a
message naming the variable, and Django's middleware sends the security headers."""

import importlib.util
import re
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS = Path(__file__).resolve().parent.parent / "jobsite" / "settings.py"
TYPED = re.compile(r'env_(bool|int|float)\("([A-Z_]+)"')


def typed_variables():
    """Every variable jobsite reads as a boolean or a number, from the settings' source,
    so a setting added later is covered too."""
    return sorted(set(TYPED.findall(SETTINGS.read_text())), key=lambda found: found[1])


def test_the_settings_read_numbers_and_booleans_only_through_the_helpers():
    source = SETTINGS.read_text()
    assert len(typed_variables()) >= 15
    assert not re.search(r"(?<![\w.])(float|int)\(env_str", source)
    assert "sys.modules" not in source  # no test-mode sniffing


@pytest.mark.parametrize(("kind", "name"), typed_variables())
def test_a_garbage_value_names_the_variable(kind, name, monkeypatch, tmp_path):
    monkeypatch.setenv("JOBSITE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.setenv("JOBSITE_HTTPS", "1")  # so the HSTS settings are read too
    monkeypatch.setenv(name, "not-a-value")
    with pytest.raises(ImproperlyConfigured) as raised:
        runpy.run_path(str(SETTINGS))
    assert str(raised.value).startswith(f"{name}='not-a-value'")


def test_the_settings_load_with_every_variable_left_out(monkeypatch, tmp_path):
    monkeypatch.setenv("JOBSITE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x")
    for _, name in typed_variables():
        monkeypatch.delenv(name, raising=False)
    loaded = runpy.run_path(str(SETTINGS))
    assert loaded["JOBSITE_DISPATCH_INTERVAL"] == 1.0
    assert loaded["DEBUG"] is False


def test_without_a_secret_key_production_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv("JOBSITE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is required"):
        runpy.run_path(str(SETTINGS))


def test_without_an_encryption_key_production_refuses_to_start_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("JOBSITE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.delenv("JOBSITE_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    with pytest.raises(
        ImproperlyConfigured, match="^JOBSITE_ENCRYPTION_KEY is required unless DEBUG=1"
    ):
        runpy.run_path(str(SETTINGS))
    # `make run` writes one to the data dir: then it starts.
    (tmp_path / "encryption_key").write_text("cHJvZHVjdGlvbi1lbmNyeXB0aW9uLWtleS0wMTIzNDU=\n")
    assert runpy.run_path(str(SETTINGS))["JOBSITE_ENCRYPTION_KEYS"] == [
        "cHJvZHVjdGlvbi1lbmNyeXB0aW9uLWtleS0wMTIzNDU="
    ]


def test_every_response_carries_the_security_headers(client, db):
    response = client.get("/login/")
    assert response["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize(
    ("env", "module", "extra"),
    [
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/jobsite"}, "psycopg", "postgres"),
        ({"JOBSITE_BROKER": "redis"}, "redis", "redis"),
        ({"JOBSITE_API_CACHE_URL": "redis://127.0.0.1:6379/3"}, "redis", "redis"),
    ],
)
def test_a_missing_database_or_redis_client_is_one_line_naming_the_extra(
    env, module, extra, monkeypatch, tmp_path
):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == module else real_find_spec(name, *args),
    )
    monkeypatch.setenv("JOBSITE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as raised:
        runpy.run_path(str(SETTINGS))
    message = str(raised.value)
    assert (
        "\n" not in message and f"pip install 'jobsite[{extra}]'" in message and module in message
    )
