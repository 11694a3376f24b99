def noun(plural: str, count: int) -> str:
    """The plural noun as `count` needs it: noun("tasks", 1) == "task",
    noun("dependencies", 1) == "dependency", noun("tasks", 2) == "tasks"."""
    if count != 1:
        return plural
    return plural[:-3] + "y" if plural.endswith("ies") else plural.removesuffix("s")
