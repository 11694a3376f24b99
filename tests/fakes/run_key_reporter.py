"""A coding agent of one's own for tests: it uses the run key in its environment against
Crewboard's API, records each answer's status in the worktree (run-key-report.json), and
writes hello.txt so the run's check passes.

Usage: run_key_reporter.py <worktree> <prompt file>. Standard library only.
"""

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def call(method: str, path: str, body: object = None) -> int:
    url = f"{os.environ['CREWBOARD_URL']}/api/v1/projects/{os.environ['CREWBOARD_PROJECT']}/{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Agent {os.environ['CREWBOARD_RUN_KEY']}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def main() -> None:
    worktree, prompt_file = Path(sys.argv[1]), Path(sys.argv[2])
    run = os.environ["CREWBOARD_RUN_ID"]
    task = os.environ["CREWBOARD_TASK"]
    prompt = prompt_file.read_text()
    seen = {
        "env": {
            "url": os.environ["CREWBOARD_URL"],
            "project": os.environ["CREWBOARD_PROJECT"],
            "key": os.environ["CREWBOARD_RUN_KEY"],
        },
        "prompt_tells_how": "$CREWBOARD_RUN_KEY" in prompt
        and f"runs/{run}/tool-calls/" in prompt
        and os.environ["CREWBOARD_URL"] in prompt,
        "plan": call("GET", "agent/plan/"),
        "task": call("GET", f"agent/tasks/{task}/"),
        "tool_calls": call(
            "POST",
            f"runs/{run}/tool-calls/",
            {"call_id": "c1", "tool_name": "pytest", "input": {}, "status": "succeeded"},
        ),
        "decisions": call(
            "POST", f"runs/{run}/decisions/", {"decision": "Keep the greeting short"}
        ),
        "memory": call(
            "POST", "agent/memory/", {"subject": "greeting", "learned": "hello.txt holds it"}
        ),
        "claim": call("POST", "tasks/claim/", {}),
        "complete": call("POST", f"runs/{run}/complete/", {"attempt": 1}),
        "fail": call("POST", f"runs/{run}/fail/", {"attempt": 1, "error": "no"}),
        "heartbeat": call("POST", "agents/heartbeat/", {}),
        "task_status": call("POST", f"agent/tasks/{task}/status/", {"status": "done"}),
        "other_run": call(
            "POST", f"runs/{int(run) + 1}/decisions/", {"decision": "Not mine to log"}
        ),
    }
    (worktree / "run-key-report.json").write_text(json.dumps(seen))
    (worktree / "hello.txt").write_text("hello\n")
    print("greeted")


if __name__ == "__main__":
    main()
