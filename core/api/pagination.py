from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class LogCursorPagination(pagination.CursorPagination):
    """Stable paging over append-only logs, newest first, even while rows keep arriving."""

    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
