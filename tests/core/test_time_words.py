from datetime import timedelta

from django.template import Context, Template
from django.utils import timezone

from core.templatetags.time_words import ago, lasted


def test_ago_says_just_now_within_a_minute():
    now = timezone.now()
    assert ago(now - timedelta(seconds=5)) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=5)) == "3\xa0minutes ago"
    assert ago(None) == ""


def test_lasted_counts_seconds_under_a_minute():
    start = timezone.now()
    assert lasted(start, start + timedelta(seconds=1)) == "1\xa0second"
    assert lasted(start, start + timedelta(seconds=42.4)) == "42\xa0seconds"
    assert lasted(start, start + timedelta(seconds=59.7)) == "59\xa0seconds"
    assert lasted(start, start + timedelta(minutes=2, seconds=1)) == "2\xa0minutes"
    assert lasted(start, None) == ""


def test_filters_load_in_templates():
    start = timezone.now() - timedelta(seconds=3)
    rendered = Template("{% load time_words %}{{ t|ago }}, after {{ t|lasted:t }}").render(
        Context({"t": start})
    )
    assert rendered == "just now, after 0\xa0seconds"
