"""Projects and their members over the API."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from rest_framework import serializers

from planning.models import Project, ProjectMembership
from planning.services.projects import PROJECT_SETTINGS_FIELDS


class ProjectSerializer(serializers.ModelSerializer[Project]):
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    slug = serializers.SlugField(max_length=100, required=False, allow_blank=True)
    # Whether the repository fields name a usable repository (and whether the tools exist)
    # is the service's check: it answers 400 naming the field, and writes nothing.
    enabled_tools = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="Names of agent tools enabled beyond the always-on, low-risk ones.",
    )
    max_qa_iterations = serializers.IntegerField(
        min_value=1,
        max_value=100,
        required=False,
        help_text="Failed verifications a task may have before it is blocked.",
    )

    class Meta:
        model = Project
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "mode",
            "status",
            *PROJECT_SETTINGS_FIELDS,
            "owner",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = ["id", "owner", "created_at", "updated_at", "completed_at"]
        # Uniqueness is checked (and reported) by the service's full_clean.
        validators: list[Any] = []


# One answer for a username that does not exist and one that may not be added, so the
# endpoint tells nobody which usernames exist.
NO_USER_TO_ADD = "No active user with this username can be added."


class MembershipSerializer(serializers.ModelSerializer[ProjectMembership]):
    username = serializers.SlugRelatedField(
        source="user",
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        error_messages={"does_not_exist": NO_USER_TO_ADD, "invalid": NO_USER_TO_ADD},
    )

    class Meta:
        model = ProjectMembership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[Any] = []


class MembershipRoleSerializer(serializers.ModelSerializer[ProjectMembership]):
    class Meta:
        model = ProjectMembership
        fields = ["role"]
