"""The start form, generated from a template's declared variables (and per-step params).

Django's form machinery only draws the widgets and carries the submitted text: every
field is a plain optional text field, and the values are checked by the same validator
the API uses (`jobs.services.create_job` → `templates_app.definition.validate_values`),
whose errors are put back on the fields. So a value the API refuses, the form refuses
with the same message, and the other way round.

Double submits: each render carries a signed, pre-allocated job id (`submission`). The
view creates the job with exactly that id, so a second submit of the same render hits
the primary key and is answered with the job the first one made — one job per render,
across processes and without any extra table. See docs/ui.md.
"""

import uuid

from django import forms
from django.core import signing

SUBMISSION_SALT = "jobsite.ui.start-form"
SUBMISSION_MAX_AGE = 24 * 3600  # a form left open for a day must be reloaded


def submission_token(request):
    """A fresh job id for one render of a form, signed for this user and workspace."""
    value = {
        "job": uuid.uuid4().hex,
        "user": request.user.pk,
        "ws": str(request.tenant.workspace.pk),
    }
    return signing.dumps(value, salt=SUBMISSION_SALT)


def job_id_from_submission(request, token):
    """The job id a form render was given, or None when the token is missing, forged,
    expired or another user's."""
    try:
        value = signing.loads(token or "", salt=SUBMISSION_SALT, max_age=SUBMISSION_MAX_AGE)
    except signing.BadSignature:
        return None
    if value.get("user") != request.user.pk or value.get("ws") != str(request.tenant.workspace.pk):
        return None
    return uuid.UUID(value["job"])


def _initial_text(declaration, value):
    """How a stored value is shown in its widget."""
    kind = declaration["type"]
    if value is None:
        return ""
    if kind == "boolean":
        return bool(value)
    if kind == "multichoice":
        return [str(item) for item in value]
    if kind == "datetime" and isinstance(value, str):
        return value[:19]  # datetime-local has no zone and no fractions
    return str(value)


def _field_for(declaration, label):
    kind = declaration["type"]
    attrs = {}
    help_parts = [declaration.get("description") or ""]
    if kind in ("integer", "number"):
        attrs["step"] = "1" if kind == "integer" else "any"
        attrs["inputmode"] = "numeric" if kind == "integer" else "decimal"
        for bound in ("min", "max"):
            if declaration.get(bound) is not None:
                attrs[bound] = declaration[bound]
        widget = forms.NumberInput(attrs=attrs)
    elif kind == "text":
        widget = forms.Textarea(attrs={"rows": 4})
    elif kind == "secret":
        widget = forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False)
        if "default" in declaration:
            # A secret's default stays on the server; leaving the field empty uses it.
            widget.attrs["placeholder"] = "leave empty to use the default"
    elif kind == "boolean":
        widget = forms.CheckboxInput()
    elif kind == "choice":
        choices = [(str(choice), str(choice)) for choice in declaration["choices"]]
        if not declaration["required"] or "default" not in declaration:
            choices = [("", "—")] + choices
        widget = forms.Select(choices=choices)
    elif kind == "multichoice":
        widget = forms.CheckboxSelectMultiple(
            choices=[(str(c), str(c)) for c in declaration["choices"]]
        )
    elif kind == "date":
        widget = forms.DateInput(attrs={"type": "date"})
    elif kind == "datetime":
        widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"})
    elif kind == "file":
        widget = forms.FileInput(
            attrs={"accept": ",".join(declaration["accept"])} if declaration.get("accept") else {}
        )
    else:
        widget = forms.TextInput()
    if kind in ("string", "text", "secret"):
        if declaration.get("max") is not None:
            widget.attrs["maxlength"] = declaration["max"]
        if declaration.get("pattern"):
            help_parts.append(f"Must match {declaration['pattern']}.")
    if kind == "boolean":
        field = forms.BooleanField(required=False, label=label, widget=widget)
    elif kind == "file":
        # The file is streamed to an upload by the view (jobs.views.start); the value
        # the validator sees is the upload's id.
        field = forms.FileField(required=False, label=label, widget=widget)
    elif kind == "multichoice":
        field = forms.MultipleChoiceField(
            required=False, label=label, widget=widget, choices=widget.choices
        )
    else:
        field = forms.CharField(required=False, label=label, widget=widget, strip=False)
    field.help_text = " ".join(part for part in help_parts if part)
    field.variable_type = kind
    field.variable_required = declaration["required"] and "default" not in declaration
    return field


class StartForm(forms.Form):
    """Job name, the variables and the per-step params of one template version."""

    job_name = forms.CharField(
        required=False,
        max_length=200,
        label="Job name",
        help_text="Optional; defaults to the template's name.",
    )
    submission = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        definition,
        *args,
        initial_variables=None,
        secrets_kept=False,
        with_params=True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.secrets_kept = secrets_kept
        self.upload_ids = {}  # file field key → the id of the upload its file became
        self.variable_fields = []  # (field key, variable name)
        self.param_fields = []  # (field key, step id, param name)
        initial_variables = initial_variables or {}
        for name, declaration in definition.get("variables", {}).items():
            key = f"var-{name}"
            self.fields[key] = _field_for(declaration, declaration.get("label") or name)
            self.fields[key].variable_name = name
            if secrets_kept and declaration["type"] == "secret":
                self.fields[key].widget.attrs["placeholder"] = (
                    "leave empty to keep the previous value"
                )
            if secrets_kept and declaration["type"] == "file":
                self.fields[key].help_text = " ".join(
                    part
                    for part in (
                        self.fields[key].help_text,
                        "Leave empty to keep the previous file.",
                    )
                    if part
                )
            value = initial_variables.get(name, declaration.get("default"))
            if declaration["type"] != "secret":
                self.initial[key] = _initial_text(declaration, value)
            self.variable_fields.append((key, name))
        for step in definition.get("steps", []) if with_params else []:
            for name, declaration in (step.get("params") or {}).items():
                key = f"param-{step['id']}.{name}"
                self.fields[key] = _field_for(
                    declaration, f"{declaration.get('label') or name} (step {step['id']})"
                )
                if declaration["type"] != "secret":
                    self.initial[key] = _initial_text(declaration, declaration.get("default"))
                self.param_fields.append((key, step["id"], name))

    def _raw(self, key):
        """The submitted text of one field as the validator wants it. An unchecked box
        sends nothing, which means false here (not "use the default")."""
        field = self.fields[key]
        if field.variable_type == "file":
            return self.upload_ids.get(key, "")
        if field.variable_type == "boolean":
            return "true" if self.data.get(self.add_prefix(key)) else "false"
        if field.variable_type == "multichoice":
            return (
                self.data.getlist(self.add_prefix(key))
                if hasattr(self.data, "getlist")
                else self.data.get(key, [])
            )
        return self.data.get(self.add_prefix(key), "")

    def submitted_variables(self, *, omit_empty_secrets=False):
        values = {}
        for key, name in self.variable_fields:
            value = self._raw(key)
            if (
                omit_empty_secrets
                and self.fields[key].variable_type in ("secret", "file")
                and value == ""
            ):
                continue  # a rerun keeps the old job's secret, or its file
            values[name] = value
        return values

    def file_keys(self):
        return [key for key, _ in self.variable_fields if self.fields[key].variable_type == "file"]

    def submitted_params(self):
        params = {}
        for key, step_id, name in self.param_fields:
            params.setdefault(step_id, {})[name] = self._raw(key)
        return params

    def job_name_value(self):
        return (self.data.get(self.add_prefix("job_name")) or "").strip()[:200]

    def add_service_errors(self, errors):
        """Put JobValidationError.errors ("variables.days", "params.step.name") on the
        fields; anything else becomes a form-wide error."""
        if not hasattr(self, "cleaned_data"):
            self.full_clean()
        by_name = {f"variables.{name}": key for key, name in self.variable_fields}
        by_name.update(
            {f"params.{step_id}.{name}": key for key, step_id, name in self.param_fields}
        )
        for field_name, messages in errors.items():
            key = by_name.get(field_name)
            for message in messages:
                if key:
                    self.add_error(key, message)
                else:
                    label = field_name.split(".", 1)[-1]
                    self.add_error(None, f"{label}: {message}" if label != "__all__" else message)
