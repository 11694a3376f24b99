"""Dependency-graph helpers shared by services, selectors and (later) importers."""

from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def find_path(edges: Mapping[K, Iterable[K]], start: K, goal: K) -> list[K] | None:
    """Shortest path from `start` to `goal` following `edges`, or None when unreachable."""
    if start == goal:
        return [start]
    previous: dict[K, K] = {}
    queue: deque[K] = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in edges.get(node, ()):
            if nxt in seen:
                continue
            previous[nxt] = node
            if nxt == goal:
                path = [goal]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1]
            seen.add(nxt)
            queue.append(nxt)
    return None


def cycle_closed_by(edges: Mapping[K, Iterable[K]], source: K, target: K) -> list[K] | None:
    """The cycle a new edge `source -> target` would close, as `[source, target, ..., source]`."""
    path = find_path(edges, target, source)
    return [source, *path] if path else None
