"""The settings pages' forms for webhook endpoints and schedules.

They only parse what was typed. The rules stay in one place each: a schedule's variables
are checked by `templates_app.definition.validate_values` (the validator jobs use, so a
schedule saved here will not be paused for its variables at its first run), and its
cron expression and time zone by `jobs.automation.schedules.validate_cron` here and by
`save_schedule` (which also sets the next run) in the view.
"""

import json

from django import forms
from django.core.validators import URLValidator

from jobs.automation.schedules import ScheduleError, validate_cron
from jobs.models.automation import WEBHOOK_EVENTS, Schedule, WebhookEndpoint
from templates_app.definition import secret_names, validate_values


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, template):
        return f"{template.name} ({template.slug})"


class HttpURLField(forms.URLField):
    default_validators = [URLValidator(schemes=["http", "https"])]


class WebhookEndpointForm(forms.ModelForm):
    url = HttpURLField(
        label="URL",
        max_length=2000,
        help_text="Where events are POSTed, signed as Standard Webhooks.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/jobsite"}),
    )
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in WEBHOOK_EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    is_active = forms.BooleanField(
        required=False,
        label="Active",
        help_text="An inactive endpoint is sent nothing. Activating one clears why it was disabled.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "template", "is_active"]
        help_texts = {"description": "Optional: who reads it and why."}

    def __init__(self, *args, templates, **kwargs):
        """`templates`: the workspace's templates an endpoint may be limited to."""
        super().__init__(*args, **kwargs)
        self.fields["template"] = TemplateChoiceField(
            queryset=templates,
            required=False,
            empty_label="any template",
            help_text="Only events of this template's jobs.",
        )

    def clean_events(self):
        chosen = set(self.cleaned_data["events"])
        return [event for event in WEBHOOK_EVENTS if event in chosen]


# --- schedules ---------------------------------------------------------------------------


def parse_variables_text(text):
    """The variables box: a JSON object, or one `name=value` per line (blank lines and
    lines starting with # are skipped). Returns a dict; raises ValidationError."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        if not isinstance(values, dict):
            raise forms.ValidationError('Write a JSON object, e.g. {"days": 7}.')
        return values
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not name:
            raise forms.ValidationError(
                f"Line {number}: write name=value, one per line (or a JSON object)."
            )
        if name in values:
            raise forms.ValidationError(f"Line {number}: {name} is given twice.")
        values[name] = value.strip()
    return values


def _as_line_value(value):
    """How a stored value is written in a name=value line, or None when it cannot be
    (the box then shows JSON instead)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and "\n" not in value and value == value.strip():
        return value
    if isinstance(value, list) and all(
        isinstance(item, str | int | float) and "," not in str(item) for item in value
    ):
        return ", ".join(str(item) for item in value)
    return None


def variables_as_text(values):
    """Stored variables as the box shows them: name=value lines when each value fits on
    one, otherwise indented JSON."""
    lines = []
    for name, value in values.items():
        text = _as_line_value(value)
        if text is None:
            return json.dumps(values, indent=2, ensure_ascii=False)
        lines.append(f"{name}={text}")
    return "\n".join(lines)


def declared_variables(template):
    version = template.current_version
    return version.definition.get("variables", {}) if version else {}


def _is_empty(value):
    return value is None or value == "" or value == []


class ScheduleForm(forms.ModelForm):
    template = TemplateChoiceField(queryset=None)
    variables = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text=(
            "One name=value per line, or a JSON object. Left out: the template's default. "
            "Checked against the template's variables, as when a job starts."
        ),
    )

    class Meta:
        model = Schedule
        fields = ["template", "name", "cron", "timezone", "variables", "enabled"]
        labels = {"cron": "Cron expression", "timezone": "Time zone", "enabled": "Enabled"}
        help_texts = {
            "name": "Optional; jobs it starts record it as schedule:<name>.",
            "cron": "Five fields: minute hour day-of-month month day-of-week, e.g. 0 3 * * 1-5.",
            "timezone": "An IANA name such as Europe/Paris; the cron expression is read in it.",
            "enabled": "Runs only while enabled.",
        }
        widgets = {
            "cron": forms.TextInput(attrs={"placeholder": "0 3 * * *", "class": "mono"}),
            "timezone": forms.TextInput(attrs={"placeholder": "UTC"}),
        }

    def __init__(self, *args, templates, **kwargs):
        """`templates`: the workspace's templates a schedule may run. Stored secret values
        are never shown: the box leaves them out, and leaving them out keeps them."""
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates
        self.kept_secrets = {}
        stored = self.instance.variables or {}
        self.fields["timezone"].required = False  # empty means UTC
        if not self.instance._state.adding:
            secrets = secret_names(declared_variables(self.instance.template))
            self.kept_secrets = {name: value for name, value in stored.items() if name in secrets}
            stored = {name: value for name, value in stored.items() if name not in secrets}
        self.initial["variables"] = variables_as_text(stored)

    def clean_cron(self):
        return " ".join(self.cleaned_data["cron"].split())

    def clean_timezone(self):
        return self.cleaned_data["timezone"].strip() or "UTC"

    def clean_variables(self):
        return parse_variables_text(self.cleaned_data["variables"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("cron"):
            self._check_when(cleaned["cron"], cleaned.get("timezone", "UTC"))
        template, submitted = cleaned.get("template"), cleaned.get("variables")
        if template is None or submitted is None:
            return cleaned
        if template.archived_at and cleaned.get("enabled"):
            self.add_error(
                "enabled",
                "Its template is archived: it cannot run. Pick another template or leave it off.",
            )
        if template.pk == self.instance.template_id:
            submitted = {**self.kept_secrets, **submitted}
        values, errors = validate_values(declared_variables(template), submitted)
        if errors:
            self.add_error(
                "variables",
                [
                    message if name == "__all__" else f"{name}: {message}"
                    for name, messages in errors.items()
                    for message in messages
                ],
            )
            return cleaned
        # Keep only what was given: a variable left out takes the template's default at
        # each run, so a later change of that default reaches the schedule too.
        cleaned["variables"] = {
            name: values[name] for name, value in submitted.items() if not _is_empty(value)
        }
        return cleaned

    def _check_when(self, cron, tz_name):
        """The schedule service's own check, so a bad cron expression and a bad time zone
        are both reported at once, with the variables' problems."""
        try:
            validate_cron(cron, tz_name)
        except ScheduleError as exc:
            self.add_error(exc.field, str(exc))
            if exc.field == "timezone":
                try:
                    validate_cron(cron, "UTC")
                except ScheduleError as cron_exc:
                    self.add_error(cron_exc.field, str(cron_exc))

    @property
    def kept_secret_names(self):
        return sorted(self.kept_secrets)
