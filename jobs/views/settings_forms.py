"""The settings pages' forms for webhook endpoints, notification channels and schedules.

They only parse what was typed. The rules stay in one place each, shared with the API
and the admin: `jobs.automation.schedules.validate_schedule` / `save_schedule` for a
schedule, `jobs.automation.webhooks.save_webhook_endpoint` for an endpoint,
`jobs.automation.notifications.save_notification_channel` for a channel.
"""

import json

from django import forms

from jobs.automation.notifications import channel_errors
from jobs.automation.schedules import (
    normalize_cron,
    normalize_timezone,
    shown_variables,
    stored_secrets,
    validate_schedule,
)
from jobs.automation.webhooks import webhook_endpoint_errors
from jobs.models.automation import (
    NOTIFICATION_EVENTS,
    WEBHOOK_EVENTS,
    ChannelKind,
    NotificationChannel,
    Schedule,
    WebhookEndpoint,
)


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, template):
        return f"{template.name} ({template.slug})"


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
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

    def clean(self):
        """The endpoint service's own check (http or https only, a template this endpoint
        may use), beside what the fields found."""
        cleaned = super().clean()
        errors = webhook_endpoint_errors(
            self.instance,
            url=cleaned.get("url", ""),
            events=cleaned.get("events", []),
            template=cleaned.get("template"),
        )
        add_service_errors(self, errors)
        return cleaned

    def changes(self) -> dict:
        """What `save_webhook_endpoint` is asked to write."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


# --- notification channels -----------------------------------------------------------------


class NotificationChannelForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in NOTIFICATION_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        help_text="What to be told about.",
    )
    target = forms.CharField(
        max_length=2000,
        required=False,
        help_text="Email: one or more addresses, comma-separated. Chat: the incoming-webhook URL "
        "(Slack or compatible); it is a credential, so it is never shown again — leave it empty "
        "to keep the current one.",
    )
    is_active = forms.BooleanField(
        required=False, label="Active", help_text="An inactive channel is sent nothing."
    )

    class Meta:
        model = NotificationChannel
        fields = ["kind", "name", "target", "events", "template", "is_active"]

    def __init__(self, *args, templates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"] = TemplateChoiceField(
            queryset=templates,
            required=False,
            empty_label="any template",
            help_text="Only this template's jobs.",
        )
        if self.instance.kind == ChannelKind.CHAT:
            self.initial["target"] = ""  # never shown again

    def clean(self):
        cleaned = super().clean()
        if (
            not cleaned.get("target")
            and self.instance.pk
            and cleaned.get("kind") == self.instance.kind == ChannelKind.CHAT
        ):
            cleaned["target"] = self.instance.target
        add_service_errors(
            self,
            channel_errors(
                self.instance, kind=cleaned.get("kind", ""), name=cleaned.get("name", ""),
                target=cleaned.get("target", ""), events=cleaned.get("events", []), template=cleaned.get("template"),
            ),
        )  # fmt: skip
        return cleaned

    def changes(self) -> dict:
        """What `save_notification_channel` is asked to write."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


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


def add_service_errors(form: forms.BaseForm, errors: dict[str, list[str]]) -> None:
    """A service's errors on the form's fields: `variables.<name>` on the variables box as
    "name: message", a field the form lacks above the form. A field the form already
    found wrong keeps its own message only."""
    variable_messages = []
    for field, messages in errors.items():
        if field in form.errors:
            continue
        if field.startswith("variables."):
            name = field.removeprefix("variables.")
            variable_messages += [f"{name}: {message}" for message in messages]
        elif field == "variables" and "variables" in form.fields:
            variable_messages += messages
        else:
            form.add_error(field if field in form.fields else None, messages)
    if variable_messages:
        form.add_error("variables" if "variables" in form.fields else None, variable_messages)


def check_schedule_form(form: forms.ModelForm, cleaned: dict) -> dict:
    """A schedule form's clean(): `validate_schedule` on what the fields parsed, its
    problems put on the fields, the variables to store in `cleaned`. Shared by the
    settings form and the admin's."""
    variables, errors = validate_schedule(
        form.instance,
        template=cleaned.get("template") if "variables" in cleaned else None,
        cron=cleaned.get("cron"),
        timezone=cleaned.get("timezone", "UTC"),
        enabled=cleaned.get("enabled", False),
        variables=cleaned.get("variables"),
    )
    if errors:
        add_service_errors(form, errors)
    elif variables is not None:
        cleaned["variables"] = variables
    return cleaned


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
        self.fields["timezone"].required = False  # empty means UTC
        self.kept_secrets = stored_secrets(self.instance)
        self.initial["variables"] = variables_as_text(shown_variables(self.instance))

    def clean_cron(self):
        return normalize_cron(self.cleaned_data["cron"])

    def clean_timezone(self):
        return normalize_timezone(self.cleaned_data["timezone"])

    def clean_variables(self):
        return parse_variables_text(self.cleaned_data["variables"])

    def clean(self):
        """Every problem at once, by the schedule service's own check (the instance is
        still unchanged here: it compares the new template with the stored one)."""
        return check_schedule_form(self, super().clean())

    @property
    def kept_secret_names(self):
        return sorted(self.kept_secrets)
