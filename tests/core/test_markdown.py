"""Plan text rendered as Markdown, sanitised."""

from django.template import Context, Template

from core.templatetags.markdown import markdown_filter, markdown_inline_filter


def test_names_render_emphasis_and_code_without_a_paragraph():
    html = markdown_inline_filter("Add `slugify` and **bold** names")
    assert html == "Add <code>slugify</code> and <strong>bold</strong> names"


def test_descriptions_render_lists_code_and_tables():
    html = markdown_filter("Steps:\n\n- one\n- two\n\n```\nrm <x>\n```\n\n| a |\n|---|\n| 1 |")
    assert "<ul>\n<li>one</li>" in html
    assert "<pre><code>rm &lt;x&gt;\n</code></pre>" in html
    assert "<td>1</td>" in html


def test_markup_in_plan_text_is_escaped_and_unsafe_links_dropped():
    html = markdown_filter(
        "<script>alert(1)</script> <img src=x onerror=alert(1)> [a](javascript:alert(1)) "
        "[b](https://example.com)"
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">b</a>' in html


def test_filters_are_available_in_every_template_without_a_load():
    rendered = Template("{{ name|markdown_inline }}").render(Context({"name": "**x**"}))
    assert rendered == "<strong>x</strong>"


def test_empty_text_renders_nothing():
    assert markdown_filter(None) == ""
    assert markdown_inline_filter("") == ""
