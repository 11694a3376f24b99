from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agents.api.mcp import McpView
from agents.urls import planner_urlpatterns
from core import views as core_views

# drf-spectacular's Swagger page has one small inline <style>; allow exactly that one.
SWAGGER_INLINE_STYLE = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"

# Agents first: planning's `tasks/<key>/` would otherwise swallow `tasks/claim/`.
api_v1 = [
    path("", include("agents.api.urls")),
    path("", include("planning.api.urls")),
    path("", include("memory.api.urls")),
    path("", include("core.api.urls")),
]

handler404 = "planning.views.errors.page_not_found"
handler403 = "planning.views.errors.permission_denied"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_v1)),
    path("mcp/", McpView.as_view(), name="mcp"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        csp_update({"style-src": [SWAGGER_INLINE_STYLE]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="swagger-ui",
    ),
    path("", include(planner_urlpatterns)),
    path("", include("planning.urls")),
    path("agents/", include("agents.urls")),
    path("memory/", include("memory.urls")),
]
