"""Domain errors raised by services; the API and views turn them into 4xx responses."""


class DomainError(Exception):
    """A request that breaks a business rule. Maps to HTTP 400."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConflictError(DomainError):
    """The request is valid but collides with the current state. Maps to HTTP 409."""

    status_code = 409
    code = "conflict"


class PermissionDeniedError(DomainError):
    """The caller may see the object but not change it. Maps to HTTP 403."""

    status_code = 403
    code = "permission_denied"


class UpstreamError(DomainError):
    """A service the request needs (a model provider) failed or answered unusably. Maps to
    HTTP 502."""

    status_code = 502
    code = "upstream_error"
