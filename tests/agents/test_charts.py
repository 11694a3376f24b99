"""The server-drawn SVG bar chart of the metrics page, and its number formats."""

import xml.etree.ElementTree as ET

import pytest

from agents import charts

SVG = "{http://www.w3.org/2000/svg}"


def chart_svg(**kw) -> ET.Element:
    defaults = {
        "chart_id": "c",
        "title": "Tokens",
        "categories": ["2025-01-01", "2025-01-02", "2025-01-03"],
        "series": [
            charts.Series("alpha", [10, 0, 30]),
            charts.Series("beta", [5, 5, 5]),
        ],
    }
    return ET.fromstring(str(charts.stacked_bar_chart(**{**defaults, **kw})))


def series_groups(svg: ET.Element) -> dict[str, list[ET.Element]]:
    return {
        g.get("data-series"): g.findall(f"{SVG}rect")
        for g in svg.iter(f"{SVG}g")
        if g.get("data-series") is not None
    }


def test_chart_is_valid_svg_with_a_bar_per_series_and_day():
    svg = chart_svg(x_title="Day (UTC)", y_title="Tokens")

    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    groups = series_groups(svg)
    assert [len(groups["alpha"]), len(groups["beta"])] == [2, 3]  # zero values draw nothing
    titles = [r.find(f"{SVG}title").text for r in groups["alpha"]]
    assert titles == ["2025-01-01 · alpha: 10", "2025-01-03 · alpha: 30"]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Day (UTC)" in texts and "Tokens" in texts  # axis titles
    assert "alpha" in texts and "beta" in texts  # legend
    assert "0" in texts and "40" in texts  # y ticks up to the tallest stack (35)
    assert "2025-01-02" in texts  # x labels


def test_chart_stacks_segments_of_a_day():
    groups = series_groups(chart_svg())
    alpha, beta = groups["alpha"][1], groups["beta"][2]  # both on 2025-01-03

    assert alpha.get("x") == beta.get("x")
    # beta sits on top of alpha: its bottom edge is alpha's top edge.
    beta_bottom = float(beta.get("y")) + float(beta.get("height"))
    assert beta_bottom == pytest.approx(float(alpha.get("y")), abs=0.02)
    assert float(alpha.get("height")) == pytest.approx(6 * float(beta.get("height")), rel=0.01)


def test_chart_escapes_every_label():
    nasty = '<script>alert("x")</script> & co'

    markup = str(
        charts.stacked_bar_chart(
            chart_id="c",
            title=nasty,
            categories=[nasty],
            series=[charts.Series(nasty, [1])],
            x_title=nasty,
            y_title=nasty,
        )
    )
    svg = ET.fromstring(markup)

    assert "<script" not in markup and "&lt;script&gt;" in markup
    assert svg.find(f"{SVG}title").text == nasty
    assert next(iter(series_groups(svg))) == nasty
    assert svg.find(f".//{SVG}rect/{SVG}title").text == f"{nasty} · {nasty}: 1"


def test_chart_colours_come_from_classes_not_styles():
    series = [charts.Series(f"s{i}", [1]) for i in range(10)]
    markup = str(charts.stacked_bar_chart(chart_id="c", title="t", categories=["d"], series=series))
    svg = ET.fromstring(markup)

    assert "style" not in markup and "fill=" not in markup
    classes = [g.get("class") for g in svg.iter(f"{SVG}g") if g.get("data-series")]
    assert classes[0] == "chart-series chart-series--0"
    assert classes[9] == "chart-series chart-series--1"  # the palette repeats


def test_chart_without_data_still_parses():
    svg = chart_svg(categories=[], series=[])

    assert series_groups(svg) == {}
    assert svg.find(f"{SVG}title").text == "Tokens"


def test_nice_steps_and_formats():
    assert charts.nice_step(35) == 10
    assert charts.nice_step(1234) == 500
    assert charts.nice_step(0) == 1
    assert charts.compact_number(12345) == "12.3k"
    assert charts.compact_number(2_500_000) == "2.5M"
    assert charts.dollars(0.0042) == "$0.0042"
    assert charts.dollars(12.345) == "$12.35"
