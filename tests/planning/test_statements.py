"""Planning's hand-written statements: the claim."""

import pytest
from django.db import transaction

from planning import statements

pytestmark = pytest.mark.django_db


def test_claim_statements_refuse_to_build_without_the_claiming_agents_placeholder(
    project, monkeypatch
) -> None:
    """Without it, agents would silently never get the tasks assigned to them."""
    real = statements._claim_candidates
    monkeypatch.setattr(statements, "_claim_candidates", lambda p: [real(p)[0][1:], *real(p)[1:]])
    with transaction.atomic(), pytest.raises(RuntimeError, match="placeholder is missing"):
        statements.claim_statements.__wrapped__(project.pk)
