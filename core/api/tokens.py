"""Token login: a username and password in, the person's API token out (the CLI's login)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.tokens import auth_token_obtain


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField()
    username = serializers.CharField()


class TokenObtainView(APIView):
    """Exchange a username and password for the person's API token (created on first use)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(request=AuthTokenSerializer, responses={200: TokenSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token = auth_token_obtain(user=user)
        return Response(TokenSerializer({"token": token.key, "username": user.username}).data)
