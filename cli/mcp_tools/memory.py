"""The tools of an agent's memory, its own state, and its questions to people."""

from cli.mcp_tools.base import RUN_ID, Tool, integer, string

MEMORY_TOOLS: tuple[Tool, ...] = (
    Tool(
        "remember",
        "Remember a fact for later runs.",
        "Remember a fact about the project (a convention, a pitfall, a command) for this "
        "and later runs, with a confidence from 0 to 1.",
        "standard",
        "POST",
        "agent/memory/",
        {
            "subject": string("What it is about"),
            "learned": string("The fact"),
            "confidence": {"type": "number", "description": "0 to 1, default 0.7"},
            "source": string("Where it was learned"),
            "run": integer("The run it was learned in"),
        },
        ("subject", "learned"),
        run_key=True,
    ),
    Tool(
        "recall",
        "Recall facts by words.",
        "Recall remembered facts of the project (and global ones) that mention the words, "
        "most confident first.",
        "standard",
        "GET",
        "agent/memory/",
        {"q": string("Words to look for")},
        query=("q",),
        run_key=True,
    ),
    Tool(
        "ask_human",
        "Ask a person; the task waits.",
        "Ask a person a question: it lands in the inbox as a checkpoint task that the "
        "claimed task waits on. With options the person picks one. Read the answer with "
        "get_answer.",
        "standard",
        "POST",
        "runs/{run_id}/questions/",
        {
            "run_id": RUN_ID,
            "question": string("The question"),
            "options": {"type": "array", "items": {"type": "string"}, "description": "Choices"},
        },
        ("run_id", "question"),
        run_key=True,
    ),
    Tool(
        "get_answer",
        "A question's answer, once given.",
        "A question's checkpoint and, once a person has answered, the answer (approved, "
        "choice, note, by).",
        "standard",
        "GET",
        "agent/questions/{key}/",
        {"key": string("The checkpoint key ask_human returned")},
        ("key",),
        run_key=True,
    ),
    Tool(
        "get_state",
        "Read the agent's state.",
        "Read the agent's own key-value state: one entry by key, or every entry.",
        "all",
        "GET",
        "agent/state/{key}/",
        {"key": string("Entry key; leave empty for every entry")},
    ),
    Tool(
        "set_state",
        "Write one entry of the agent's state.",
        "Write one entry of the agent's own key-value state (any JSON value).",
        "all",
        "PUT",
        "agent/state/{key}/",
        {"key": string("Entry key"), "value": {"description": "Any JSON value"}},
        ("key", "value"),
    ),
)
