"""A serializer's output without DRF's per-field machinery, for answers on a hot path.

`Serializer.to_representation` asks every field, for every object, how to read its value
and how to render it: a chain of method calls, generic attribute lookups and checks that
come out the same for every object. `representation(serializer)` asks once, and returns
a function that renders an object as `serializer.to_representation` does: reading each
field's value straight off the object, and rendering the common field types (text,
numbers, JSON, primary keys, slugs, nested serializers) directly. Any other field, and
any value the direct read does not cover (a missing attribute, a mapping that is not a
`dict`, a callable), goes through the field's own methods, so the result is the same.

The serializer is fixed once rendered this way: build it without a context (its fields
must not depend on a request) and do not change its fields afterwards.
"""

import datetime
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db.models import Manager, Model
from django.utils import timezone
from rest_framework import ISO_8601, fields, relations, serializers
from rest_framework.settings import api_settings

Render = Callable[[Any], Any]

# A value the direct read could not produce: the field's own get_attribute then runs.
_UNREAD = object()


class _Step(NamedTuple):
    name: str
    # The attribute (or dict key) holding the value, when reading it is all the field's
    # get_attribute does; None when the field must read it itself.
    attr: str | None
    # Read `attr` only off instances of this model (a foreign key's column).
    model: type[Model] | None
    # The field's source is the whole object (`source="*"`).
    whole: bool
    read: Render
    render: Render
    # A date and time rendered in the current time zone, read once per object.
    timed: bool


def representation(serializer: serializers.BaseSerializer[Any]) -> Render:
    """A function rendering an object exactly as `serializer.to_representation` does."""
    if isinstance(serializer, serializers.ListSerializer):
        if type(serializer).to_representation is not serializers.ListSerializer.to_representation:
            return serializer.to_representation
        child = representation(serializer.child)  # type: ignore[arg-type]

        def render_list(data: Any) -> list[Any]:
            items = data.all() if isinstance(data, Manager) else data
            return [child(item) for item in items]

        return render_list
    if (
        not isinstance(serializer, serializers.Serializer)
        or type(serializer).to_representation is not serializers.Serializer.to_representation
    ):
        return serializer.to_representation
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    steps = [_step(field, model) for field in serializer._readable_fields]

    def render(instance: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        zone: Any = _UNREAD
        is_dict = type(instance) is dict
        # DRF reads any other mapping by key: the fields' own reads do that.
        readable = is_dict or not isinstance(instance, Mapping)
        for step in steps:
            value: Any = _UNREAD
            if step.whole:
                value = instance
            elif (
                step.attr is not None
                and readable
                and (step.model is None or isinstance(instance, step.model))
            ):
                try:
                    value = instance[step.attr] if is_dict else getattr(instance, step.attr)
                except ObjectDoesNotExist:
                    value = None  # as DRF reads a missing related object
                except (KeyError, AttributeError):
                    value = _UNREAD
                if callable(value):  # DRF calls it: the field's own read does
                    value = _UNREAD
            if value is _UNREAD:
                try:
                    value = step.read(instance)
                except fields.SkipField:
                    continue
                if isinstance(value, relations.PKOnlyObject) and value.pk is None:
                    value = None
            if value is None:
                answer[step.name] = None
            elif step.timed:
                if zone is _UNREAD:
                    zone = timezone.get_current_timezone() if settings.USE_TZ else None
                answer[step.name] = _iso_datetime(value, zone, step.render)
            else:
                answer[step.name] = step.render(value)
        return answer

    return render


def _step(field: fields.Field[Any, Any, Any, Any], model: type[Model] | None) -> _Step:
    name = field.field_name
    assert name is not None  # a bound field
    attrs = field.source_attrs
    attr = attrs[0] if len(attrs) == 1 else None
    reads = type(field).get_attribute
    if isinstance(field, relations.PrimaryKeyRelatedField) and field.pk_field is None:
        # It renders the key of what it reads: off a model, its foreign key column.
        column = _foreign_key_column(model, attr)
        return _Step(name, column, model, False, _key_reader(field), _same, False)
    plain = reads is fields.Field.get_attribute or (
        reads is relations.RelatedField.get_attribute
        and isinstance(field, relations.RelatedField)
        and not field.use_pk_only_optimization()
    )
    if not plain:
        attr = None
    whole = plain and field.source == "*"
    if isinstance(field, serializers.BaseSerializer):
        render = representation(field)
        return _Step(name, attr, None, whole, field.get_attribute, render, False)
    timed = _in_current_zone(field)
    render = field.to_representation if timed else _value_renderer(field)
    return _Step(name, attr, None, whole, field.get_attribute, render, timed)


def _in_current_zone(field: fields.Field[Any, Any, Any, Any]) -> bool:
    """Whether the field renders ISO 8601 in the current time zone, as DRF's
    DateTimeField does unless told otherwise."""
    return (
        type(field).to_representation is fields.DateTimeField.to_representation
        and type(field).enforce_timezone is fields.DateTimeField.enforce_timezone  # type: ignore[attr-defined]
        and type(field).default_timezone is fields.DateTimeField.default_timezone  # type: ignore[attr-defined]
        and not hasattr(field, "timezone")
        and str(getattr(field, "format", api_settings.DATETIME_FORMAT)).lower() == ISO_8601
    )


def _iso_datetime(value: Any, zone: Any, render: Render) -> Any:
    """DateTimeField.to_representation of an aware datetime; `render` (that method)
    for anything else, and for what it refuses."""
    if type(value) is not datetime.datetime or zone is None or not timezone.is_aware(value):
        return render(value)
    try:
        text = value.astimezone(zone).isoformat()
    except OverflowError:
        return render(value)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _foreign_key_column(model: type[Model] | None, attr: str | None) -> str | None:
    if model is None or attr is None:
        return None
    try:
        model_field = model._meta.get_field(attr)
    except FieldDoesNotExist:  # not a model field: the field's own read
        return None
    column = getattr(model_field, "attname", None)
    return column if getattr(model_field, "many_to_one", False) else None


def _key_reader(field: relations.PrimaryKeyRelatedField[Any]) -> Render:
    def read_key(instance: Any) -> Any:
        # A PKOnlyObject, or the related object itself: either way its key is rendered.
        value = field.get_attribute(instance)
        return None if value is None else value.pk

    return read_key


def _same(value: Any) -> Any:
    return value


def _value_renderer(field: fields.Field[Any, Any, Any, Any]) -> Render:
    renders = type(field).to_representation
    if renders is fields.CharField.to_representation:
        return str
    if renders is fields.IntegerField.to_representation:
        return int
    # djangorestframework-stubs predate DRF's BigIntegerField.
    if renders is fields.BigIntegerField.to_representation:  # type: ignore[attr-defined]
        as_text = getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING)
        return str if as_text else int
    if renders is fields.FloatField.to_representation:
        return float
    if renders is fields.JSONField.to_representation and not getattr(field, "binary", False):
        return _same
    if renders is relations.SlugRelatedField.to_representation:
        slug: str = getattr(field, "slug_field", "")
        return attrgetter(slug.replace("__", "."))
    if renders is fields.SerializerMethodField.to_representation:
        method: Render = getattr(field.parent, getattr(field, "method_name", ""))
        return method
    return field.to_representation
