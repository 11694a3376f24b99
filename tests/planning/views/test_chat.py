"""The planning chat pages: sessions, the transcript, proposed edits as a diff, apply, discard;
and sending a message, which the planning agent answers (agents.views.planner)."""

import json
import re

import pytest
from django.urls import reverse

from agents.services.planner import chat_message_send
from planning.importers import ImportSource
from planning.models import ConversationMessage, ConversationSession, DevPlanVersion, Project
from planning.services.chat import chat_session_create
from planning.services.imports import DEMO_PLANNING_FOLDER, plan_import
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.fakes.openai_server import completion

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
# The demo plan's next task, as the offline provider words it.
NEXT_ANSWER = "Next up: 01-02-T1 Project-scoped viewsets."
EDITS = [
    {"op": "update", "entity": "task", "key": "03-01-T1", "fields": {"priority": "high"}},
    {
        "op": "add",
        "entity": "task",
        "key": "03-01-T2",
        "fields": {"name": "Lease fencing", "feature": "03", "sub_feature": "03-01"},
    },
    {"op": "add", "entity": "dependency", "task": "03-01-T2", "depends_on": "03-01-T1"},
]


@pytest.fixture
def planned(project) -> Project:
    """`project` with Crewboard's own demo plan imported (version 1)."""
    plan_import(
        project=project, source=ImportSource.from_path(DEMO_PLANNING_FOLDER), actor=project.owner
    )
    return project


@pytest.fixture
def session(planned, user) -> ConversationSession:
    return chat_session_create(project=planned, actor=user, title="Planning week 1")


@pytest.fixture
def proposal(session, fake_llm) -> ConversationMessage:
    """An assistant reply proposing EDITS, not yet applied."""
    fake_llm.script(completion(json.dumps({"reply": "Here is the change.", "edits": EDITS})))
    reply = chat_message_send(session=session, content="Add lease fencing after the step loop")
    assert reply.metadata["edit_status"] == "proposed"
    return reply


def url(name: str, *args: object) -> str:
    return reverse(f"planning:{name}", args=["crewboard", *args])


def send_url(session_id: int) -> str:
    return reverse("planner:chat-message-create", args=["crewboard", session_id])


def message_url(action: str, message: ConversationMessage) -> str:
    return url(f"chat-message-{action}", message.session_id, message.pk)


def article(html: str, message: ConversationMessage) -> str:
    found = re.search(rf'<article id="chat-message-{message.pk}".*?</article>', html, re.S)
    assert found, f"message {message.pk} is not on the page"
    return found.group(0)


# Sessions -------------------------------------------------------------------------------


def test_project_nav_has_a_chat_tab(browser, project):
    html = browser.get(reverse("planning:project-detail", args=["crewboard"])).content.decode()

    assert f'<a href="{url("chat-list")}">Chat</a>' in html
    chat_page = browser.get(url("chat-list")).content.decode()
    assert f'<a href="{url("chat-list")}" aria-current="page">Chat</a>' in chat_page


def test_new_chat_creates_a_session_and_opens_it(browser, project, user):
    response = browser.post(url("chat-list"), {"title": "Scope the MVP"})

    session = ConversationSession.objects.get()
    assert (session.project, session.kind, session.title) == (project, "planning", "Scope the MVP")
    assert session.created_by == user
    assert response.status_code == 302
    assert response.url == url("chat-detail", session.pk)
    html = browser.get(response.url).content.decode()
    assert "Scope the MVP" in html
    assert "No messages yet." in html
    assert 'id="chat-form"' in html


def test_new_chat_over_htmx_redirects_the_client(browser, project):
    response = browser.post(url("chat-list"), {"title": ""}, **HTMX)

    session = ConversationSession.objects.get()
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == url("chat-detail", session.pk)


def test_chat_list_shows_newest_first_with_the_opening_question(browser, planned, user):
    older = chat_session_create(project=planned, actor=user, title="Older chat")
    chat_message_send(session=older, content="What is blocked?")
    chat_session_create(project=planned, actor=user, title="Newer chat")
    chat_session_create(project=ProjectFactory(slug="other"), title="Not this project's")

    html = browser.get(url("chat-list")).content.decode()

    assert html.index("Newer chat") < html.index("Older chat")
    row = re.search(rf'<tr id="chat-{older.pk}">.*?</tr>', html, re.S).group(0)
    assert "What is blocked?" in row
    assert '<td class="num">2</td>' in row  # the question and its answer
    assert "alice" in row
    assert "Not this project" not in html


def test_chat_list_is_paginated(browser, project):
    for i in range(26):
        chat_session_create(project=project, title=f"Chat number {i:02d}")

    first = browser.get(url("chat-list")).content.decode()
    second = browser.get(url("chat-list") + "?page=2").content.decode()

    assert first.count('<tr id="chat-') == 25
    assert "Chat number 25" in first
    assert second.count('<tr id="chat-') == 1
    assert "Chat number 00" in second


def test_chat_list_query_count_does_not_grow(browser, project, django_assert_max_num_queries):
    for i in range(30):
        chat_message_send(session=chat_session_create(project=project), content=f"Question {i}")

    # session, user, membership, page count, page rows
    with django_assert_max_num_queries(5):
        response = browser.get(url("chat-list"))

    assert response.content.decode().count('<tr id="chat-') == 25


# Sending messages -----------------------------------------------------------------------


def test_the_offline_assistant_answers_what_is_next(browser, session):
    response = browser.post(send_url(session.pk), {"content": "What is next?"}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    question, reply = session.messages.order_by("id")
    assert (question.role, reply.role) == ("user", "assistant")
    assert "What is next?" in article(html, question)
    assert NEXT_ANSWER in article(html, reply)
    assert html.index(f'id="chat-message-{question.pk}"') < html.index(
        f'id="chat-message-{reply.pk}"'
    )
    # A fresh, empty form replaces the one that was sent.
    form = re.search(r'<form id="chat-form".*?</form>', html, re.S).group(0)
    assert 'hx-swap-oob="true"' in form
    assert "What is next?" not in form

    page = browser.get(url("chat-detail", session.pk)).content.decode()
    assert NEXT_ANSWER in article(page, reply)
    assert "No messages yet." not in page


def test_the_message_form_appends_to_the_transcript(browser, session):
    html = browser.get(url("chat-detail", session.pk)).content.decode()

    form = re.search(r'<form id="chat-form".*?</form>', html, re.S).group(0)
    assert f'hx-post="{send_url(session.pk)}"' in form
    assert 'hx-target="#chat-messages"' in form
    assert 'hx-swap="beforeend' in form
    assert "hx-swap-oob" not in form
    assert 'class="htmx-indicator' in form
    assert '<div id="chat-messages"' in html


def test_an_empty_message_shows_the_form_error(browser, session):
    response = browser.post(send_url(session.pk), {"content": "  "}, **HTMX)

    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#chat-form"
    assert response.headers["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="chat-form"')
    assert "Write a message first." in html
    assert not session.messages.exists()


def test_without_javascript_sending_returns_to_the_transcript(browser, session):
    response = browser.post(send_url(session.pk), {"content": "What is next?"})

    reply = session.messages.get(role="assistant")
    assert response.status_code == 302
    assert response.url == f"{url('chat-detail', session.pk)}#chat-message-{reply.pk}"


def test_a_model_error_is_shown_as_the_reply(browser, session, settings):
    settings.LLM_PROVIDER = "openai"
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.LLM_API_KEY = "sk"
    settings.LLM_MAX_RETRIES = 0

    html = browser.post(send_url(session.pk), {"content": "hello"}, **HTMX).content.decode()

    reply = session.messages.get(role="assistant")
    assert "chat-message--error" in article(html, reply)
    assert "The model could not be reached" in article(html, reply)


# Proposed edits -------------------------------------------------------------------------


def test_proposed_edits_are_shown_as_a_diff_with_apply_and_discard(browser, session, fake_llm):
    fake_llm.script(completion(json.dumps({"reply": "Here is the change.", "edits": EDITS})))

    html = browser.post(
        send_url(session.pk), {"content": "Add lease fencing"}, **HTMX
    ).content.decode()

    reply = session.messages.get(role="assistant")
    shown = article(html, reply)
    assert "Here is the change." in shown
    assert '<span class="badge badge--proposed">Proposed</span>' in shown
    assert "3 operations" in shown
    added = re.search(r'<li class="diff-row diff-row--added">.*?</li>', shown, re.S).group(0)
    assert "03-01-T2" in added and "Lease fencing" in added
    changed = re.search(r'<li class="diff-row diff-row--changed">.*?</li>', shown, re.S).group(0)
    assert "03-01-T1" in changed
    assert "<dt>priority</dt>" in changed
    assert re.search(r"diff-line--removed\">medium</span>.*diff-line--added\">high</span>", changed)
    assert re.search(
        r'<span class="key">03-01-T2</span> depends on <span class="key">03-01-T1</span>', shown
    )
    assert f'hx-post="{message_url("apply", reply)}"' in shown
    assert f'hx-post="{message_url("discard", reply)}"' in shown
    assert f'hx-target="#chat-message-{reply.pk}"' in shown
    assert not session.project.tasks.filter(key="03-01-T2").exists()  # nothing applied yet


def test_apply_changes_the_plan_and_links_the_version(browser, planned, proposal):
    response = browser.post(message_url("apply", proposal), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<article id="chat-message-{proposal.pk}"')
    assert '<span class="badge badge--applied">Applied</span>' in html
    assert f'<a href="{url("version-detail", 2)}">version 2</a>' in html
    assert f'hx-post="{message_url("apply", proposal)}"' not in html
    assert "plan-changed" in response.headers["HX-Trigger"]
    assert planned.tasks.get(key="03-01-T1").priority == "high"
    added = planned.tasks.get(key="03-01-T2")
    assert list(added.depends_on.values_list("key", flat=True)) == ["03-01-T1"]
    assert DevPlanVersion.objects.filter(plan__project=planned).count() == 2


def test_applying_twice_says_so_and_changes_nothing(browser, planned, proposal):
    browser.post(message_url("apply", proposal), **HTMX)

    response = browser.post(message_url("apply", proposal), **HTMX)

    assert response.status_code == 400
    html = response.content.decode()
    assert "These edits were already applied." in html
    assert '<span class="badge badge--applied">Applied</span>' in html
    assert "HX-Trigger" not in response.headers
    assert DevPlanVersion.objects.filter(plan__project=planned).count() == 2


def test_discard_leaves_the_plan_alone(browser, planned, proposal):
    response = browser.post(message_url("discard", proposal), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="badge badge--discarded">Discarded</span>' in html
    assert "the plan was not changed" in html
    assert f'hx-post="{message_url("discard", proposal)}"' not in html
    proposal.refresh_from_db()
    assert proposal.metadata["edit_status"] == "discarded"
    assert planned.tasks.get(key="03-01-T1").priority != "high"

    response = browser.post(message_url("apply", proposal), **HTMX)
    assert response.status_code == 400
    assert "These edits were already discarded." in response.content.decode()
    assert not planned.tasks.filter(key="03-01-T2").exists()
    assert DevPlanVersion.objects.filter(plan__project=planned).count() == 1


def test_edits_that_no_longer_fit_are_rejected_inline(browser, planned, proposal):
    planned.tasks.get(key="03-01-T1").delete()  # the plan moved on meanwhile

    response = browser.post(message_url("apply", proposal), **HTMX)

    assert response.status_code == 400
    html = response.content.decode()
    assert "These edits no longer fit the plan, so nothing was changed" in html
    assert "there is no task 03-01-T1" in html
    assert 'role="alert"' in html
    assert f'hx-post="{message_url("apply", proposal)}"' in html  # still proposed
    assert not planned.tasks.filter(key="03-01-T2").exists()
    assert DevPlanVersion.objects.filter(plan__project=planned).count() == 1


def test_without_javascript_apply_returns_to_the_transcript(browser, planned, proposal):
    response = browser.post(message_url("apply", proposal))

    assert response.status_code == 302
    assert response.url.endswith(f"#chat-message-{proposal.pk}")
    html = browser.get(response.url).content.decode()
    assert "Applied the edits as version 2." in html


def test_a_message_without_edits_cannot_be_applied(browser, session):
    chat_message_send(session=session, content="What is next?")
    reply = session.messages.get(role="assistant")

    response = browser.post(message_url("apply", reply), **HTMX)

    assert response.status_code == 400
    assert "This message proposes no edits." in response.content.decode()


# Access ---------------------------------------------------------------------------------


def test_viewers_read_but_cannot_write(client, session, proposal, viewer):
    client.force_login(viewer)

    listing = client.get(url("chat-list"))
    page = client.get(url("chat-detail", session.pk))

    assert listing.status_code == 200 and "Planning week 1" in listing.content.decode()
    assert 'id="chat-new"' not in listing.content.decode()
    html = page.content.decode()
    assert page.status_code == 200
    assert "Here is the change." in html
    assert 'id="chat-form"' not in html
    assert message_url("apply", proposal) not in html
    assert client.post(url("chat-list"), {"title": "x"}).status_code == 403
    assert client.post(send_url(session.pk), {"content": "hi"}).status_code == 403
    assert client.post(message_url("apply", proposal), **HTMX).status_code == 403
    assert client.post(message_url("discard", proposal), **HTMX).status_code == 403
    assert ConversationSession.objects.count() == 1
    assert session.messages.count() == 2
    proposal.refresh_from_db()
    assert proposal.metadata["edit_status"] == "proposed"


def test_a_session_of_another_project_is_404(browser, planned, user, fake_llm):
    mine = ProjectFactory(owner=user, slug="mine")
    theirs = chat_session_create(project=mine)
    fake_llm.script(completion(json.dumps({"reply": "ok", "edits": EDITS[:1]})))
    message = chat_message_send(session=theirs, content="edit")  # fails to apply in `mine`
    assert browser.get(reverse("planning:chat-detail", args=["mine", theirs.pk])).status_code == 200

    assert browser.get(url("chat-detail", theirs.pk)).status_code == 404
    assert browser.post(send_url(theirs.pk), {"content": "x"}).status_code == 404
    assert browser.post(url("chat-message-apply", theirs.pk, message.pk)).status_code == 404
    assert browser.post(url("chat-message-discard", theirs.pk, message.pk)).status_code == 404
    assert theirs.messages.count() == 2


def test_a_message_of_another_session_is_404(browser, session, proposal, planned):
    other = chat_session_create(project=planned)

    assert browser.post(url("chat-message-apply", other.pk, proposal.pk)).status_code == 404
    assert browser.post(url("chat-message-discard", other.pk, proposal.pk)).status_code == 404
    proposal.refresh_from_db()
    assert proposal.metadata["edit_status"] == "proposed"


def test_non_members_get_404(client, session):
    outsider = UserFactory(username="mallory")
    client.force_login(outsider)

    assert client.get(url("chat-list")).status_code == 404
    assert client.get(url("chat-detail", session.pk)).status_code == 404
    assert client.post(url("chat-list")).status_code == 404
    assert client.post(send_url(session.pk), {"content": "x"}).status_code == 404


def test_anonymous_users_are_sent_to_login(client, session):
    for response in (
        client.get(url("chat-list")),
        client.get(url("chat-detail", session.pk)),
        client.post(send_url(session.pk), {"content": "x"}),
    ):
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert not session.messages.exists()


def test_editors_can_chat(client, session):
    editor = MembershipFactory(project=session.project, role="editor").user
    client.force_login(editor)

    response = client.post(send_url(session.pk), {"content": "What is next?"})

    assert response.status_code == 302
    assert session.messages.get(role="user").metadata["author"] == editor.username


# Queries and CSP ------------------------------------------------------------------------


@pytest.mark.parametrize("n_exchanges", [2, 20])
def test_chat_page_query_count_does_not_grow_with_messages(
    browser, session, fake_llm, n_exchanges, django_assert_max_num_queries
):
    # Half the replies propose edits, so diffs are rendered too.
    fake_llm.script(
        *(
            completion(json.dumps({"reply": f"Reply {i}", "edits": EDITS if i % 2 else []}))
            for i in range(n_exchanges)
        )
    )
    for i in range(n_exchanges):
        chat_message_send(session=session, content=f"Question {i}")

    # session, user, membership, chat session, messages
    with django_assert_max_num_queries(5):
        response = browser.get(url("chat-detail", session.pk))

    html = response.content.decode()
    assert html.count('<article id="chat-message-') == 2 * n_exchanges
    assert html.count("badge--proposed") == n_exchanges // 2


def test_chat_pages_need_no_inline_script_or_style(browser, session, proposal):
    for path in (url("chat-list"), url("chat-detail", session.pk)):
        response = browser.get(path)
        html = response.content.decode()
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, path
        assert "style=" not in html, path
        assert "<style" not in html, path
        assert "hx-on" not in html, path
        assert "javascript:" not in html, path
    fragment = browser.post(message_url("discard", proposal), **HTMX).content.decode()
    assert "style=" not in fragment and "<script" not in fragment


def test_messages_are_rendered_as_safe_markdown(browser, session, fake_llm):
    fake_llm.script(completion(json.dumps({"reply": "Next is `02-T1`, **the lease**."})))
    chat_message_send(session=session, content="What is next? <script>alert(1)</script>")
    html = browser.get(url("chat-detail", session.pk)).content.decode()
    assert "<p>Next is <code>02-T1</code>, <strong>the lease</strong>.</p>" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
