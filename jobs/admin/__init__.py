"""The Django admin of the jobs app, by concern; Django's autodiscovery imports this
package, which registers every ModelAdmin by importing its module."""

from jobs.admin import automation, jobs, uploads  # noqa: F401
