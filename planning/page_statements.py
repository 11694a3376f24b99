"""Planning's hand-written SQL for the plan pages: renumbering positions when a move
finds no room, and the change stamp every live poll reads (see the README's
Architecture section on raw SQL). Table and column names come from the models' `_meta`;
they change only planning's own tables."""

import functools
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from planning.models import Feature, ProjectMembership, Requirement, SubFeature, Task
from planning.outline import stamp_annotations, stamp_digest

# Renumbering a group of plan items -----------------------------------------------------


def positions_renumber(siblings: QuerySet[Any], *, gap: int, now: datetime) -> None:
    """Number `siblings` gap, 2·gap, 3·gap… in their current order, in one UPDATE.

    Moving an item among its siblings gives it a position between its new neighbours'
    (one row written); only when there is no room between them (an imported group's
    positions are all 0) is the whole group renumbered, and Django's bulk_update spends
    seconds compiling a CASE per row where this statement takes milliseconds (see
    bench/plan_edits.py). Changes only planning's own tables (features, sub-features,
    tasks, requirements), named by `_meta`.
    """
    model = siblings.model
    if model not in (Feature, SubFeature, Task, Requirement):
        raise TypeError(f"{model.__name__} has no plan position.")
    order = []
    for name in siblings.query.order_by:
        if not isinstance(name, str):
            raise TypeError("Plan items are ordered by field names.")
        order.append(F(name[1:]).desc() if name.startswith("-") else F(name))
    ranked = siblings.order_by().annotate(plan_rank=Window(RowNumber(), order_by=order))
    sql, params = ranked.values("id", "plan_rank").query.sql_with_params()
    connection = connections[siblings.db]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    position = quote(model._meta.get_field("position").column)
    updated_at = quote(model._meta.get_field("updated_at").column)
    statement = (
        f"UPDATE {table} SET {position} = ranked.plan_rank * %s, {updated_at} = %s "
        f"FROM ({sql}) AS ranked WHERE {table}.{quote('id')} = ranked.{quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [gap, now, *params])


# The change stamp an unchanged live poll reads -------------------------------------------

# Stand for the user's id and the project's slug in the compiled statement: no user has a
# negative id, and no slug holds a space.
STAMP_USER = -7_340_118
STAMP_SLUG = "no slug has spaces"


@functools.lru_cache(maxsize=4)
def stamp_for_user_statement(alias: str = DEFAULT_DB_ALIAS) -> tuple[str, tuple[Any, ...]]:
    """plan_stamp_for_user's query as SQL and parameters, compiled once per process from
    the querysets of planning.outline.plan_stamp: every unchanged poll runs it, and
    compiling its subqueries cost a poll more than running them. The user's id and the
    slug are STAMP_USER and STAMP_SLUG among the parameters, swapped at each run."""
    annotations = stamp_annotations("project_id")
    rows = (
        ProjectMembership.objects.using(alias)
        .filter(user_id=STAMP_USER, project__slug=STAMP_SLUG)
        .annotate(**annotations)
        .values("role", "project__updated_at", "project__status", *annotations)
        .order_by()[:1]
    )
    sql, params = rows.query.get_compiler(alias).as_sql()
    if list(params).count(STAMP_USER) != 1 or list(params).count(STAMP_SLUG) != 1:
        # A placeholder lost to the compiler would check membership against nothing.
        raise RuntimeError("The change stamp's user or slug placeholder is missing.")
    return sql, tuple(params)


def plan_stamp_for_user(*, user: User | AnonymousUser, slug: str) -> str | None:
    """planning.outline.plan_stamp() of the project with `slug`, mixed with the user's
    role, read in the same query that checks membership: None for a stranger (and for a
    project that does not exist), so a live page's unchanged poll costs that one query."""
    if not user.is_authenticated:
        return None
    sql, params = stamp_for_user_statement()
    values = [
        user.pk if param == STAMP_USER else slug if param == STAMP_SLUG else param
        for param in params
    ]
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
        names = [column[0] for column in cursor.description or ()]
    return None if row is None else stamp_digest(dict(zip(names, row, strict=True)))
