"""Django's PostgreSQL backend, whose psycopg pool checks connections with
core.pool.connection_check instead of psycopg_pool's own check."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

from core.pool import connection_check


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool = super().pool  # type: ignore[misc]  # django-stubs lacks the pool
        # Django makes the pool with psycopg_pool's own check when CONN_HEALTH_CHECKS is
        # on, and takes no other; the pool keeps it in `_check`.
        if isinstance(pool, ConnectionPool) and getattr(pool, "_check", None) is not None:
            if pool._check is not connection_check:
                pool._check = connection_check
        elif isinstance(pool, ConnectionPool) and self.settings_dict["CONN_HEALTH_CHECKS"]:
            raise ImproperlyConfigured("This psycopg_pool keeps its check elsewhere.")
        return pool
