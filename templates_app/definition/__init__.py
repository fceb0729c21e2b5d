"""The template definition language (SPEC §3): parse, validate and normalize a template,
check and coerce the values a job supplies, describe them as JSON Schema, and fill in
`{{ path }}` references. Pure functions over plain data: no models, no requests."""

from .outputs import parse_artifact_output
from .parse import DefinitionError
from .substitute import SubstitutionError, references, render
from .validate import load_definition
from .variables import (
    check_job_input,
    is_empty,
    json_schema,
    params_json_schema,
    secret_names,
    validate_step_params,
    validate_values,
)

__all__ = [
    "DefinitionError",
    "SubstitutionError",
    "check_job_input",
    "is_empty",
    "json_schema",
    "load_definition",
    "parse_artifact_output",
    "params_json_schema",
    "references",
    "render",
    "secret_names",
    "validate_step_params",
    "validate_values",
]
