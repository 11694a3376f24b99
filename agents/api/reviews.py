"""Reviewing a task's attempt over the API: its reviews with their line comments, and a
new verdict (approve, request changes, abandon)."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents.models import Merge, Review, ReviewComment
from agents.services import reviews
from core.api.auth import request_user
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.models import Task


class CommentInputSerializer(serializers.Serializer[Any]):
    path = serializers.CharField(max_length=500)
    line = serializers.IntegerField(min_value=1, max_value=10_000_000)
    side = serializers.ChoiceField(
        choices=ReviewComment.Side.choices, default=ReviewComment.Side.NEW
    )
    body = serializers.CharField(max_length=reviews.MAX_BODY_CHARS)


class ReviewInputSerializer(serializers.Serializer[Any]):
    verdict = serializers.ChoiceField(choices=Review.Verdict.choices)
    body = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=reviews.MAX_BODY_CHARS
    )
    comments = CommentInputSerializer(many=True, required=False)

    def validate_comments(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > reviews.MAX_COMMENTS:
            raise serializers.ValidationError(
                f"A review takes at most {reviews.MAX_COMMENTS} comments."
            )
        return value


class ReviewCommentSerializer(serializers.ModelSerializer[ReviewComment]):
    class Meta:
        model = ReviewComment
        fields = ["id", "path", "line", "side", "line_text", "body", "created_at"]


class ReviewSerializer(serializers.ModelSerializer[Review]):
    reviewer = serializers.CharField(source="reviewer_label", read_only=True)
    by_agent = serializers.SerializerMethodField()
    comments = ReviewCommentSerializer(many=True, read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "run",
            "verdict",
            "body",
            "reviewer",
            "by_agent",
            "base_commit",
            "head_commit",
            "created_at",
            "comments",
        ]

    def get_by_agent(self, review: Review) -> bool:
        return review.reviewer_agent_id is not None


class MergeSerializer(serializers.ModelSerializer[Merge]):
    class Meta:
        model = Merge
        fields = [
            "id",
            "status",
            "strategy",
            "branch",
            "base_branch",
            "base_commit",
            "merge_commit",
            "conflicts",
            "message",
            "pull_request_url",
            "created_at",
            "finished_at",
        ]


class TaskReviewSerializer(serializers.Serializer[Any]):
    task = serializers.CharField()
    status = serializers.CharField()
    attempt = serializers.IntegerField(allow_null=True)
    branch = serializers.CharField()
    reviews = ReviewSerializer(many=True)
    merge = MergeSerializer(allow_null=True)


@project_scoped_schema
class TaskReviewView(ProjectScopedViewMixin, APIView):
    """A task's reviews (newest first, with their line comments) and its latest merge;
    POST gives a verdict on its attempt waiting for review."""

    queryset_model = Review

    def _task(self, key: str) -> Task:
        task = self.project.tasks.filter(key=key).first()
        if task is None:
            raise Http404("No such task.")
        return task

    def _state(self, task: Task) -> dict[str, Any]:
        attempt = reviews.attempt_for_review(task=task)
        return {
            "task": task.key,
            "status": task.status,
            "attempt": attempt.pk if attempt else None,
            "branch": attempt.branch_name if attempt else "",
            "reviews": selectors.review_list(task=task)[: selectors.REVIEWS_SHOWN],
            "merge": selectors.merge_latest(task=task),
        }

    @extend_schema(responses=TaskReviewSerializer)
    def get(self, request: Request, project_slug: str, key: str) -> Response:
        return Response(TaskReviewSerializer(self._state(self._task(key))).data)

    @extend_schema(request=ReviewInputSerializer, responses={201: TaskReviewSerializer})
    def post(self, request: Request, project_slug: str, key: str) -> Response:
        task = self._task(key)
        serializer = ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request_user(request)
        data = serializer.validated_data
        reviews.review_submit(
            task=task,
            verdict=data["verdict"],
            body=data["body"],
            comments=[reviews.CommentInput(**c) for c in data.get("comments", [])],
            reviewer=user,
        )
        task.refresh_from_db()
        return Response(
            TaskReviewSerializer(self._state(task)).data, status=status.HTTP_201_CREATED
        )
