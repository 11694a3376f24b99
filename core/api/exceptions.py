from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn domain errors into clear 4xx responses; everything else goes to DRF."""
    if isinstance(exc, DomainError):
        detail: dict[str, str | list[str]] = (
            {exc.field: [exc.message]} if exc.field else {"detail": exc.message}
        )
        return Response(detail, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        )
    if isinstance(exc, ProtectedError):
        names = sorted({str(type(obj)._meta.verbose_name_plural) for obj in exc.protected_objects})
        return Response(
            {
                "detail": "Cannot delete: audit records refer to it "
                f"({', '.join(names)}). Archive or terminate it instead."
            },
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
