"""A plan's analytics over the API."""

from typing import Any

from rest_framework import serializers


class FeatureProgressSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    name = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    percent = serializers.IntegerField()
    remaining_minutes = serializers.IntegerField()


class AnalyticsCountsSerializer(serializers.Serializer[Any]):
    waves = serializers.IntegerField()
    wave_warnings = serializers.IntegerField()
    task_waves = serializers.IntegerField()
    critical_path = serializers.IntegerField()
    ready = serializers.IntegerField()
    blocked = serializers.IntegerField()
    done = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    progress = serializers.IntegerField()


class PlanAnalyticsSerializer(serializers.Serializer[Any]):
    """One page of the analytics: every list and map below holds its `per_page` items of
    page `page` (maps in key order); `counts` says how many each holds in all, and `next`
    is the next page's URL, null on the last."""

    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    counts = AnalyticsCountsSerializer()
    waves = serializers.DictField(child=serializers.IntegerField(), help_text="plan key → wave")
    wave_warnings = serializers.ListField(child=serializers.CharField())
    task_waves = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="task key → wave, for tasks outside a plan: 1 + their dependency depth",
    )
    critical_path = serializers.ListField(child=serializers.CharField())
    critical_path_minutes = serializers.IntegerField()
    ready = serializers.ListField(child=serializers.CharField())
    blocked = serializers.ListField(child=serializers.CharField())
    done = serializers.ListField(child=serializers.CharField())
    in_progress = serializers.ListField(child=serializers.CharField())
    progress = FeatureProgressSerializer(many=True)
    task_cycle = serializers.ListField(child=serializers.CharField(), allow_null=True)
    plan_cycle = serializers.ListField(child=serializers.CharField(), allow_null=True)
