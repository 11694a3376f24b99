"""Averages of lists of numbers."""


def mean(values: list[float]) -> float:
    """The arithmetic mean of `values`; 0.0 for an empty list."""
    return sum(values) / len(values)


def median(values: list[float]) -> float:
    """The middle value of `values` once sorted (the mean of the two middle ones for an
    even count); 0.0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
