from django import forms
from django.contrib import admin, messages

from templates_app.definition import DefinitionError, load_definition
from templates_app.models import JobTemplate, TemplateVersion, save_template_version
from templates_app.policy import definition_rules


class TemplateSourceForm(forms.ModelForm):
    """Edit a template as YAML or JSON; saving validates it with the same code as the
    API and writes a new version."""

    source = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "class": "vLargeTextField"})
    )

    class Meta:
        model = JobTemplate
        fields = ["workspace"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding and self.instance.current_version_id:
            self.fields["source"].initial = self.instance.current_version.source
            self.fields["workspace"].disabled = True

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        if workspace is None:
            return cleaned  # "workspace: this field is required" says it already
        try:
            self.definition = load_definition(
                cleaned.get("source", ""), rules=definition_rules(workspace)
            )
        except DefinitionError as exc:
            raise forms.ValidationError(
                [f"{path}: {message}" for path, items in exc.errors.items() for message in items]
            ) from None
        if not self.instance._state.adding and self.definition["slug"] != self.instance.slug:
            self.add_error("source", f"the slug cannot change here (it is {self.instance.slug!r})")
        return cleaned


@admin.register(JobTemplate)
class JobTemplateAdmin(admin.ModelAdmin):
    form = TemplateSourceForm
    list_display = [
        "name",
        "slug",
        "type",
        "workspace",
        "current_version",
        "updated_at",
        "archived_at",
    ]
    list_filter = ["workspace", "type"]
    search_fields = ["name", "slug", "id"]
    readonly_fields = ["versions"]

    @admin.display(description="versions")
    def versions(self, obj):
        if obj._state.adding:
            return "—"
        rows = obj.versions.order_by("-number").values_list("number", "created_at")[:20]
        return ", ".join(f"v{number} ({created:%Y-%m-%d %H:%M})" for number, created in rows)

    def save_model(self, request, obj, form, change):
        template = save_template_version(
            form.cleaned_data["workspace"],
            form.definition,
            source=form.cleaned_data["source"],
            user=request.user,
        )
        form.instance = template
        # The admin's "was added" message and redirect read `obj`: make it the saved row.
        obj.__dict__.update({k: v for k, v in template.__dict__.items() if k != "_state"})
        obj._state.adding = False
        messages.info(
            request, f"Saved version {template.current_version.number} of {template.slug}."
        )

    def save_related(self, request, form, formsets, change):
        pass  # versions are written by save_template_version, never edited inline


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    list_display = ["template", "number", "created_at", "created_by"]
    list_filter = ["template__workspace"]
    search_fields = ["template__slug"]
    readonly_fields = ["template", "number", "definition", "source", "created_at", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
