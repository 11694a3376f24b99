"""The shape of a memory fact's body, declared once for every writer."""

from core.shapes import JsonShape, json_object

FACT_BODY = JsonShape(
    json_object(
        {
            # Usually text; an agent may keep any JSON it learned.
            "learned": {"maxLength": 100_000, "maxItems": 1_000, "maxProperties": 200},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "source": {"type": "string", "maxLength": 1_000},
        },
        max_properties=50,
    ),
    name="body",
)
