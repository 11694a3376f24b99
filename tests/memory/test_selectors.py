import pytest
from django.db.models import Q

from memory.models import MemoryFact
from memory.selectors import memory_fact_search
from tests.factories import MemoryFactFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _queryset_search(project, query: str, limit: int = 10) -> list[MemoryFact]:
    """The search as a queryset, as it was written before it became a statement."""
    words = [w for w in query.split() if len(w) > 2][:8] or [query]
    match = Q()
    for word in words:
        match |= Q(subject__icontains=word) | Q(body__learned__icontains=word)
    return list(
        MemoryFact.objects.filter(
            Q(project=project) | Q(project__isnull=True), match, is_stale=False
        ).order_by("-confidence", "-id")[:limit]
    )


@pytest.fixture
def facts(project):
    other = ProjectFactory()

    def fact(subject, learned, *, confidence=0.5, stale=False, in_project=project):
        return MemoryFactFactory(
            project=in_project,
            subject=subject,
            body={"learned": learned, "confidence": confidence, "source": "test"},
            confidence=confidence,
            is_stale=stale,
        )

    return {
        "parser": fact("The PARSER", "tokens first", confidence=0.9),
        "body": fact("lexer", "the Parser keeps positions", confidence=0.7),
        "stale": fact("parser", "an old note", stale=True),
        "other": fact("parser", "another project's", in_project=other),
        "global": fact("parser conventions", "everywhere", confidence=0.2, in_project=None),
        "percent": fact("coverage at 100%", "keep it"),
        "underscore": fact("snake_case names", "always"),
        "flag": fact("a flag", True),
        "unrelated": fact("database", "indexes"),
    }


@pytest.mark.parametrize(
    "query",
    [
        "parser",
        "Fix the parser and the LEXER",
        "100%",
        "e_c",
        "snake_case",
        "true",
        "",
        "no such words anywhere at all in it",
        "ab",
    ],
)
def test_the_search_finds_what_the_queryset_finds(project, facts, query) -> None:
    assert memory_fact_search(project=project, query=query) == _queryset_search(project, query)


def test_the_search_ranks_by_confidence_and_keeps_to_its_limit(project, facts) -> None:
    found = memory_fact_search(project=project, query="parser", limit=2)

    assert found == [facts["parser"], facts["body"]]
    assert found[0].body["learned"] == "tokens first"  # rows come back as the model's


def test_wildcards_in_the_query_match_only_themselves(project, facts) -> None:
    assert memory_fact_search(project=project, query="100%") == [facts["percent"]]
    assert memory_fact_search(project=project, query="e_c") == [facts["underscore"]]
