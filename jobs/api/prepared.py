"""ORM queries compiled to SQL once per database connection, then run with new values.

The two reads clients poll hardest (a job's status and the job itself) each cost less to
run than the ORM spends turning them into SQL: in the profile of `jobs/{id}/`, compiling
its three queries took about 70 % of their time (docs/benchmarks.md (c)). A
`PreparedQuery` is still written as a queryset; it is compiled the first time a database
connection runs it, with stand-in values for its parameters, and afterwards only the
parameter values change. Rows come back converted by the same converters the ORM uses.

Only for `values_list()` querysets whose parameters are plain field comparisons
(`filter(pk=…)`); anything else keeps using the ORM.
"""

import uuid

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router


def _stand_in(field):
    """A value for compiling, which no real parameter equals."""
    if field.is_relation:
        field = field.target_field
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    return f"prepared-query-stand-in-{uuid.uuid4().hex}"


class _Compiled:
    __slots__ = ("sql", "params", "positions", "compiler", "converters", "col_count")

    def __init__(self, sql, params, positions, compiler, converters, col_count):
        self.sql, self.params, self.positions = sql, params, positions
        self.compiler, self.converters, self.col_count = compiler, converters, col_count


class PreparedQuery:
    """`build(**values)` returns a values_list() queryset of `model`; `parameters` maps the
    name of each value to the model field it is compared with (which says how the value
    is sent to the database).

        job_steps = PreparedQuery(StepRun, lambda job_id: StepRun.objects.filter(job_id=job_id)
                                  .order_by("position").values_list("step_id", "status"),
                                  job_id=Job._meta.pk)
        job_steps.rows(job_id=some_id)  # → [("fetch", "succeeded"), …]
    """

    def __init__(self, model, build, **parameters):
        self.model = model
        self.build = build
        self.parameters = parameters

    def rows(self, **values):
        connection = connections[router.db_for_read(self.model)]
        compiled = self._compiled(connection)
        params = list(compiled.params)
        for position, name in compiled.positions:
            params[position] = self.parameters[name].get_db_prep_value(values[name], connection)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        return [tuple(row[: compiled.col_count]) for row in rows]

    def _compiled(self, connection):
        # Connections are per thread (and outlive requests): the compiled query and its
        # converters, bound to this connection, are kept on it.
        cache = connection.__dict__.setdefault("_jobsite_prepared_queries", {})
        compiled = cache.get(self)
        if compiled is None:
            compiled = cache[self] = self._compile(connection)
        return compiled

    def _compile(self, connection):
        stand_ins = {name: _stand_in(field) for name, field in self.parameters.items()}
        compiler = self.build(**stand_ins).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        positions = []
        for name, field in self.parameters.items():
            sent = field.get_db_prep_value(stand_ins[name], connection)
            found = [(i, name) for i, param in enumerate(params) if param == sent]
            if not found:
                raise ImproperlyConfigured(f"PreparedQuery: parameter {name!r} is not in {sql}")
            positions += found
        fields = [select[0] for select in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(fields)
        return _Compiled(sql, tuple(params), positions, compiler, converters, compiler.col_count)
