import pytest

from core.text import natural_sort_key


@pytest.mark.parametrize(
    "ordered",
    [
        ["1", "2", "10", "1072"],
        ["1", "1.1", "1.2", "1.10", "2", "10"],
        ["F2-T9", "F10-T1", "F10-T2"],
        ["ui:2", "ui:10"],
    ],
)
def test_keys_sort_naturally(ordered):
    assert sorted(reversed(ordered), key=natural_sort_key) == ordered


def test_a_key_of_fifty_digits_fits_the_column():
    assert len(natural_sort_key("1." * 25)) <= 150
