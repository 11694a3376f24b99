"""The plan's analytics over the API (the project's endpoint and the agents' one), a page
at a time: `?page=<n>`, with `next` until the last page."""

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from planning.analytics_pages import analytics_page
from planning.api.serializers import PlanAnalyticsSerializer
from planning.models import Project

PAGE_PARAMETER = OpenApiParameter(
    "page",
    OpenApiTypes.INT,
    description="Which page of every list, from 1 (each list holds up to `per_page` items).",
)


def analytics_response(request: Request, project: Project) -> Response:
    """Page `?page` of `project`'s analytics; 400 for a page that is not a number from 1."""
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError({"page": "A page is a whole number from 1."})
    page = analytics_page(project=project, page=int(raw))
    url = request.build_absolute_uri()
    data = {
        **asdict(page),
        "progress": page.progress,
        "next": replace_query_param(url, "page", page.page + 1) if page.has_next else None,
    }
    return Response(PlanAnalyticsSerializer(data).data)
