"""Liveness and readiness probes for load balancers and orchestrators, and the favicon
for pages that do not link it (the admin, the API docs)."""

from celery import current_app as celery_app
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests; checks nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return None


def _check_migrations() -> str | None:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        pending = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return f"{len(plan)} unapplied migration(s): {pending}"
    return None


def _check_broker() -> str | None:
    """Connect to the broker the project's Celery app sends tasks to.

    `celery.current_app` is that app without core importing `config`: `config/__init__.py`
    creates it when Django loads the settings, and Celery's Django fixup makes it the
    default app of every thread, not only of the one that imported it.
    """
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    return None


READINESS_CHECKS = {
    "database": _check_database,
    "migrations": _check_migrations,
    "broker": _check_broker,
}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to take traffic: database reachable, migrations applied, broker reachable."""
    checks: dict[str, str] = {}
    ready = True
    for name, check in READINESS_CHECKS.items():
        try:
            problem = check()
        except Exception as exc:  # any failure means "not ready", with the reason shown
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            ready = False
        checks[name] = problem or "ok"
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


@require_safe
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """`/favicon.ico`, which browsers ask for by themselves, is the dashboard's icon.
    Temporary: the target's name carries a content hash, which a new icon changes."""
    return HttpResponseRedirect(static("img/favicon.svg"))
