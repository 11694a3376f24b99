"""The tools that read and change the plan: tasks, subtasks, dependencies, generation."""

from cli.mcp_tools.base import PRIORITY, TASK_KEY, Tool, integer, string

PLAN_TOOLS: tuple[Tool, ...] = (
    Tool(
        "next_task",
        "The next ready task, without claiming it.",
        "The task to work on next (pending, dependencies done; started plans first, then "
        "priority, wave, key), without claiming it. needs_human is true for checkpoints.",
        "standard",
        "GET",
        "agent/tasks/next/",
        run_key=True,
    ),
    Tool(
        "get_tasks",
        "List tasks, filtered.",
        "List the project's tasks (50 a page), filtered by status, feature, sub-feature, "
        "readiness or words in key and name.",
        "standard",
        "GET",
        "agent/tasks/",
        {
            "status": string(
                "pending, in_progress, review, blocked, done, failed, cancelled or deferred"
            ),
            "feature": string("Feature key"),
            "sub_feature": string("Sub-feature key"),
            "ready": {"type": "boolean", "description": "Only tasks ready to start"},
            "q": string("Words in key or name"),
            "page": integer("Page number"),
        },
        query=("status", "feature", "sub_feature", "ready", "q", "page"),
        run_key=True,
    ),
    Tool(
        "set_task_status",
        "Set the status of the claimed task.",
        "Set the status of the task this agent's claim holds: in_progress or blocked; done "
        "completes the run, pending gives the task back.",
        "standard",
        "POST",
        "agent/tasks/{key}/status/",
        {
            "key": TASK_KEY,
            "status": string("New status", enum=["in_progress", "blocked", "done", "pending"]),
        },
        ("key", "status"),
    ),
    Tool(
        "add_task",
        "Add a discovered task.",
        "Add a task discovered while working. By default it joins the sub-feature of the "
        "task being worked on, keyed <sub-feature>-T<n>. Needs the agent's may_add_tasks.",
        "standard",
        "POST",
        "agent/tasks/",
        {
            "name": string("Title"),
            "description": string("What to do"),
            "sub_feature": string("Sub-feature key"),
            "feature": string("Feature key"),
            "depends_on": {"type": "array", "items": {"type": "string"}, "description": "Keys"},
            "priority": PRIORITY,
            "verify": string("Command or check proving it done"),
        },
        ("name",),
    ),
    Tool(
        "add_subtask",
        "Add a subtask of a task.",
        "Add a subtask of a task, keyed <key>.<n>; the task then waits for it. Needs the "
        "agent's may_add_tasks.",
        "standard",
        "POST",
        "agent/tasks/{key}/subtasks/",
        {
            "key": string("Parent task key"),
            "name": string("Title"),
            "description": string("What to do"),
            "priority": PRIORITY,
        },
        ("key", "name"),
    ),
    Tool(
        "expand_task",
        "Split a task into subtasks.",
        "Have the planning model split a task into subtasks (<key>.<n>, at most num, "
        "default 5) and return them. A task with subtasks is refused unless force "
        "replaces them (only while all are pending). Needs the agent's may_add_tasks.",
        "standard",
        "POST",
        "agent/tasks/{key}/expand/",
        {
            "key": TASK_KEY,
            "num": integer("At most this many subtasks, 1 to 20"),
            "force": {"type": "boolean", "description": "Replace its pending subtasks"},
        },
        ("key",),
    ),
    Tool(
        "update_task",
        "Edit a task's text or priority.",
        "Change a task's name, description, files, verify command, done criteria, priority, "
        "size or complexity. Needs the agent's may_add_tasks.",
        "standard",
        "PATCH",
        "agent/tasks/{key}/",
        {
            "key": TASK_KEY,
            "name": string("Title"),
            "description": string("What to do"),
            "verify": string("Command or check proving it done"),
            "done_criteria": string("When it is done"),
            "priority": PRIORITY,
        },
        ("key",),
    ),
    Tool(
        "add_dependency",
        "Make a task wait for another.",
        "Make a task wait for another. An edge that would close a cycle is refused with "
        "the cycle. Needs the agent's may_add_tasks.",
        "standard",
        "POST",
        "agent/tasks/{key}/dependencies/",
        {"key": TASK_KEY, "depends_on": string("Key of the task it waits for")},
        ("key", "depends_on"),
    ),
    Tool(
        "remove_dependency",
        "Stop a task waiting for another.",
        "Remove the edge: the task no longer waits for depends_on. Needs the agent's "
        "may_add_tasks.",
        "all",
        "DELETE",
        "agent/tasks/{key}/dependencies/{depends_on}/",
        {"key": TASK_KEY, "depends_on": string("Key of the task it waits for")},
        ("key", "depends_on"),
    ),
    Tool(
        "plan_analytics",
        "Waves, critical path, blocked tasks.",
        "The plan's computed waves, critical path, ready/blocked/done tasks, progress per "
        "feature and cycle checks, 1,000 of each list a page: `counts` says how long each "
        "list is and `next` is set while there is another page.",
        "all",
        "GET",
        "agent/analytics/",
        {"page": integer("Page number, from 1")},
        query=("page",),
        run_key=True,
    ),
    Tool(
        "parse_prd",
        "Generate a plan from a PRD.",
        "Queue plan generation from a PRD or requirements text; the plan becomes a new "
        "version when the planning run ends. Needs the agent's may_add_tasks.",
        "all",
        "POST",
        "agent/generate/",
        {"requirements": string("The PRD or requirements")},
        ("requirements",),
    ),
)
