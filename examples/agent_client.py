#!/usr/bin/env python3
"""A minimal external agent for Crewboard, using only the standard library.

It loops: claim the next ready task, report a tool call and a decision, complete the
task. Replace `work_on()` with real work (run Claude Code, Codex, a script...), and
heartbeat while it runs so the lease does not expire.

    export CREWBOARD_AGENT_KEY=cbk_...   # from POST /api/v1/projects/{slug}/agents/{id}/key/
    python3 examples/agent_client.py --project crewboard-demo --once

Options: --url (default http://127.0.0.1:8000, what `make run` serves), --project (slug),
--key (default $CREWBOARD_AGENT_KEY), --lease seconds, --once (stop when no task is
ready instead of polling), --poll seconds between claims when none is ready.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any


class Crewboard:
    """The agent side of the protocol: every call is one POST with the agent key."""

    def __init__(self, url: str, project: str, key: str) -> None:
        self.base = f"{url.rstrip('/')}/api/v1/projects/{project}/"
        self.key = key

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps({} if body is None else body).encode(),
            method="POST",
            headers={"Authorization": f"Agent {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                detail = json.loads(raw) if raw else None
            except ValueError:
                detail = raw.decode(errors="replace")
            return error.code, detail

    def claim(self, lease_seconds: int) -> dict | None:
        """The claimed {"run", "task"}, or None when no task is ready."""
        status, body = self.post("tasks/claim/", {"lease_seconds": lease_seconds})
        if status == 204:
            return None
        if status != 201:
            raise RuntimeError(f"claim failed ({status}): {body}")
        return body

    def heartbeat(self) -> None:
        status, body = self.post("agents/heartbeat/")
        if status != 200:
            raise RuntimeError(f"heartbeat refused ({status}): {body}")

    def report(self, run_id: int, kind: str, items: list[dict]) -> None:
        status, body = self.post(f"runs/{run_id}/{kind}/", items)
        if status != 201:
            raise RuntimeError(f"reporting {kind} failed ({status}): {body}")

    def complete(self, run: dict, result: dict) -> None:
        status, body = self.post(
            f"runs/{run['id']}/complete/", {"attempt": run["attempt"], "result": result}
        )
        if status != 200:
            # 409: the lease expired or the run was taken back; the work is not recorded.
            raise RuntimeError(f"complete refused ({status}): {body}")

    def fail(self, run: dict, error: str) -> None:
        self.post(f"runs/{run['id']}/fail/", {"attempt": run["attempt"], "error": error})


def work_on(crewboard: Crewboard, run: dict, task: dict) -> dict:
    """Stand-in for real work: log one tool call and one decision, return a result."""
    started = time.monotonic()
    summary = f"{task['key']}: {task['name']}"
    crewboard.heartbeat()
    crewboard.report(
        run["id"],
        "tool-calls",
        [
            {
                "call_id": "read-1",
                "tool_name": "read_task",
                "input": {"key": task["key"]},
                "status": "succeeded",
                "output": {"summary": summary, "files": task.get("files", [])},
                "duration_ms": int((time.monotonic() - started) * 1000),
            }
        ],
    )
    crewboard.report(
        run["id"],
        "decisions",
        [
            {
                "decision": f"Mark {task['key']} done without changes",
                "reasoning": {"why": "examples/agent_client.py does no real work"},
            }
        ],
    )
    return {"summary": summary, "client": "examples/agent_client.py"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("CREWBOARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--project", required=True, help="project slug")
    parser.add_argument("--key", default=os.environ.get("CREWBOARD_AGENT_KEY"))
    parser.add_argument("--lease", type=int, default=300, help="lease seconds")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between empty claims")
    parser.add_argument("--once", action="store_true", help="stop when no task is ready")
    args = parser.parse_args()
    if not args.key:
        parser.error("give --key or set CREWBOARD_AGENT_KEY")

    crewboard = Crewboard(args.url, args.project, args.key)
    done = 0
    while True:
        claimed = crewboard.claim(args.lease)
        if claimed is None:
            if args.once:
                print(f"No task is ready; completed {done}.")
                return 0
            time.sleep(args.poll)
            continue
        run, task = claimed["run"], claimed["task"]
        print(f"Claimed {task['key']} (run {run['id']}, attempt {run['attempt']})")
        try:
            result = work_on(crewboard, run, task)
        except Exception as error:
            crewboard.fail(run, f"{type(error).__name__}: {error}")
            raise
        crewboard.complete(run, result)
        done += 1
        print(f"Completed {task['key']}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as error:
        sys.exit(f"agent_client: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
