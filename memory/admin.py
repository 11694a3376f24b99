from django.contrib import admin

from memory.models import MemoryFact


@admin.register(MemoryFact)
class MemoryFactAdmin(admin.ModelAdmin[MemoryFact]):
    list_display = ("subject", "project", "confidence", "is_stale", "agent", "created_at")
    # "Empty" project means a global fact.
    list_filter = ("is_stale", ("project", admin.EmptyFieldListFilter))
    search_fields = ("subject", "project__slug")
    ordering = ("-confidence", "-id")
    list_select_related = ("project", "agent")
    autocomplete_fields = ("project", "agent")
    # Runs and tool calls have no name to search by; their ids are what people have.
    raw_id_fields = ("run", "tool_call")
    readonly_fields = ("created_at", "updated_at")
