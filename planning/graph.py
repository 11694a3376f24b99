"""Dependency-graph helpers shared by services, selectors and (later) importers."""

from collections import deque
from collections.abc import Hashable, Iterable, Iterator, Mapping
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


def find_cycle(edges: Mapping[K, Iterable[K]]) -> list[K] | None:
    """Some cycle in the graph as `[a, b, ..., a]`, or None when it is acyclic."""
    state: dict[K, int] = {}  # 1 = on the current path, 2 = finished
    for root in edges:
        if root in state:
            continue
        path: list[K] = []
        stack: list[tuple[K, Iterator[K]]] = [(root, iter(edges.get(root, ())))]
        state[root] = 1
        path.append(root)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(edges.get(child, ()))))
    return None
