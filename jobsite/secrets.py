"""Secrets: the one masking function and encryption at rest (SPEC §15).

Masking. A secret value (a secret variable, a secret step param) is replaced by MASK
wherever a step's work is recorded: log lines, step errors, step outputs. The worker does
it once, before anything is stored (jobs/worker/step_runner.py, step_logs.py), and the
secret values themselves are stored masked in the job's `variables` and `params`, so
everything read later — pages, API answers, the admin, webhook payloads, exports, the
result — is already masked. `mask` catches a value in the forms a step is likely to
write it in: raw, percent-encoded (`quote`, `quote_plus`, in either hex case, as a URL's
query or path does it), JSON-escaped (ASCII or not) and HTML-escaped.

Encryption. The real values live only in a job's `sealed_secrets` column, and webhook
signing secrets in theirs: Fernet tokens (`cryptography`), keys from
JOBSITE_ENCRYPTION_KEY (comma-separated: the first encrypts, every one decrypts, so a
key is rotated by putting the new one first and running `manage.py
rotate_encryption_key`). Only the worker decrypts a job's secrets, for the step that
runs (docs/security.md).
"""

import html
import json
import re
from functools import lru_cache
from urllib.parse import quote, quote_plus

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

MASK = "***"
# Shorter secrets are not masked inside text: masking every "a" or "12" in a log would
# destroy it and protect nothing.
MIN_MASKED_SECRET_LENGTH = 3
# What a step's URL keeps unescaped in a query (jobs/executors/http.py URL_SAFE).
_URL_SAFE_SETS = ("/", "", "!#$%&'()*+,/:;=?@[]~")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def secret_forms(value: str) -> set[str]:
    """The spellings of `value` a log, an output or an error may hold it in."""
    forms = {value}
    for safe in _URL_SAFE_SETS:
        forms.add(quote(value, safe=safe))
        forms.add(quote_plus(value, safe=safe))
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(html.escape(value))
    forms.add(html.escape(value, quote=False))
    return {form for form in forms if len(form) >= MIN_MASKED_SECRET_LENGTH}


def _form_pattern(form: str) -> str:
    """A regex for `form` in which a %XX escape matches either hex case."""
    parts, last = [], 0
    for match in _PERCENT_ESCAPE.finditer(form):
        parts.append(re.escape(form[last : match.start()]))
        parts.append(
            "%" + "".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in match.group()[1:])
        )
        last = match.end()
    parts.append(re.escape(form[last:]))
    return "".join(parts)


@lru_cache(maxsize=256)
def _masker(values: tuple[str, ...]):
    forms = set()
    for value in values:
        if len(value) >= MIN_MASKED_SECRET_LENGTH:
            forms |= secret_forms(value)
    if not forms:
        return None
    # Longest first, so a value is masked whole rather than around a shorter secret.
    ordered = sorted(forms, key=lambda form: (-len(form), form))
    return re.compile("|".join(_form_pattern(form) for form in ordered))


def mask(value, secret_values):
    """`value` (text, or JSON data: dicts, lists, strings) with every secret value in it —
    in any of its spellings (secret_forms) — replaced by MASK. Dict keys too."""
    if not value or not secret_values:
        return value
    pattern = _masker(
        tuple(sorted({str(secret) for secret in secret_values if secret not in (None, "")}))
    )
    if pattern is None:
        return value
    return _mask_with(value, pattern)


def _mask_with(value, pattern):
    if isinstance(value, str):
        return pattern.sub(MASK, value)
    if isinstance(value, list | tuple):
        return [_mask_with(item, pattern) for item in value]
    if isinstance(value, dict):
        return {_mask_with(key, pattern): _mask_with(item, pattern) for key, item in value.items()}
    return value


def masked_values(declarations: dict, values: dict) -> dict:
    """`values` with those declared `type: secret` shown as MASK (an empty one stays)."""
    return {
        name: MASK
        if (declarations.get(name) or {}).get("type") == "secret" and value not in (None, "")
        else value
        for name, value in (values or {}).items()
    }


# --- encryption at rest ----------------------------------------------------------------

# A stored ciphertext starts with this, so a value written before encryption existed
# (plain text) is told apart from a token, and the migration can find what to encrypt.
SEALED_PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "JOBSITE_ENCRYPTION_KEY must be comma-separated Fernet keys "
            '(make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
        ) from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.JOBSITE_ENCRYPTION_KEYS))


def is_sealed(text) -> bool:
    return isinstance(text, str) and text.startswith(SEALED_PREFIX)


def seal(text: str) -> str:
    """Encrypt `text` with the first key."""
    return SEALED_PREFIX + fernet().encrypt(text.encode("utf-8")).decode("ascii")


def unseal(text: str) -> str:
    """Decrypt a sealed text with any of the keys; a plain (legacy) text comes back as it is."""
    if not is_sealed(text):
        return text
    try:
        return fernet().decrypt(text[len(SEALED_PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ImproperlyConfigured(
            "a stored secret cannot be decrypted with any key in JOBSITE_ENCRYPTION_KEY "
            "(was a key removed before `manage.py rotate_encryption_key` ran?)"
        ) from None


def reseal(text: str) -> str:
    """`text` encrypted with the first key (for rotation); plain text gets encrypted."""
    if not text:
        return text
    return seal(unseal(text))


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token: the database (and its backups) never see
    the value. Not searchable or comparable in SQL, by design."""

    def from_db_value(self, value, expression, connection):
        return unseal(value) if value else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return seal(value) if value and not is_sealed(value) else value


def seal_json(data) -> str:
    return seal(json.dumps(data, ensure_ascii=False, sort_keys=True)) if data else ""


def unseal_json(text: str):
    return json.loads(unseal(text)) if text else {}
