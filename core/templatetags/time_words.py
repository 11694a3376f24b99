"""Times in words that read well under a minute, where `timesince` says "0 minutes"."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment: datetime | None) -> str:
    """ "just now" within a minute, otherwise "3 minutes ago"."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def lasted(start: datetime | None, end: datetime | None) -> str:
    """The time from start to end: "12 seconds" under a minute, else `timesince`'s words."""
    if start is None or end is None:
        return ""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        # A no-break space, as timesince writes them.
        return f"{seconds}\xa0second{'' if seconds == 1 else 's'}"
    return timesince(start, end)
