from django.urls import path

from core.api.tokens import TokenObtainView

app_name = "core-api"

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
]
