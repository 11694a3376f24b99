"""A coding agent of your own, for Crewboard's `command` executor.

Crewboard runs it in the task's worktree with the argv template you give the agent, for
example (the agent's `executor_command`):

    ["python3", "/path/to/crewboard/examples/demo_coder.py", "{worktree}", "{prompt_file}"]

It reads the task from the prompt file and makes the coding demo's fix: `mean()` of an
empty list returns 0.0. Whatever it prints goes into the run's log; exiting 0 hands the
work to the task's checks, anything else fails the run. A real script would call a model,
a linter's autofix or a code generator here.
"""

import sys
from pathlib import Path


def main(worktree: Path, prompt_file: Path) -> int:
    prompt = prompt_file.read_text()
    print(f"Read the task ({len(prompt.splitlines())} lines of prompt).")
    stats = worktree / "calc" / "stats.py"
    before = "    return sum(values) / len(values)\n"
    after = "    if not values:\n        return 0.0\n" + before
    text = stats.read_text()
    if after in text:
        print("mean() handles an empty list already.")
        return 0
    if before not in text:
        print(f"{stats} does not look like the demo's; nothing changed.", file=sys.stderr)
        return 1
    stats.write_text(text.replace(before, after, 1))
    print("mean() now returns 0.0 for an empty list.")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
