from django.apps import AppConfig


class JobsiteConfig(AppConfig):
    name = "jobsite"
    verbose_name = "Workspaces and access"
    default_auto_field = "django.db.models.BigAutoField"
