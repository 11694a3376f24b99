#!/usr/bin/env python3
"""A stand-in coding CLI for tests: prints a real CLI's event stream and edits a file in
its working directory, as Claude Code or Codex would.

Only the standard library, and no project import: it runs as a separate program, maybe
inside the sandbox. The first argument picks the format (`claude`, `codex`, `text`);
any further arguments (those the real CLI takes) are ignored. What it does comes from
the environment:

  FAKE_CLI_EDIT=path=text    write `text` to `path` (relative to the working directory)
  FAKE_CLI_EXIT=N            exit with N (after printing, so the output is there)
  FAKE_CLI_HANG=1            print the first events, then sleep, with a child that sleeps
  FAKE_CLI_GARBAGE=1         print plain text instead of events
  FAKE_CLI_PIDS=path         write its pid and its child's pid there (with FAKE_CLI_HANG)
"""

import json
import os
import subprocess
import sys
import time


def emit(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def claude(path: str, text: str, hang: bool) -> None:
    emit({"type": "system", "subtype": "init", "model": "claude-fake", "session_id": "s"})
    emit(
        {
            "type": "assistant",
            "message": {
                "id": "msg_1",
                "model": "claude-fake",
                "content": [
                    {"type": "text", "text": f"Writing {path}."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "Write",
                        "input": {"file_path": path, "content": text},
                    },
                ],
                "usage": {"input_tokens": 30, "cache_read_input_tokens": 70, "output_tokens": 9},
            },
        }
    )
    if hang:
        return
    edit(path, text)
    emit(
        {
            "type": "user",
            "message": {
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "File written"}
                ]
            },
        }
    )
    emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": f"Wrote {path}",
            "total_cost_usd": 0.01,
            "usage": {
                "input_tokens": 50,
                "cache_read_input_tokens": 150,
                "cache_creation_input_tokens": 0,
                "output_tokens": 20,
            },
        }
    )


def codex(path: str, text: str, hang: bool) -> None:
    emit({"type": "thread.started", "thread_id": "t-1"})
    emit({"type": "turn.started"})
    command = {"id": "item_0", "type": "command_execution", "command": "bash -lc ls"}
    emit({"type": "item.started", "item": {**command, "status": "in_progress"}})
    if hang:
        return
    done = {**command, "aggregated_output": "README.md\n", "exit_code": 0, "status": "completed"}
    emit({"type": "item.completed", "item": done})
    edit(path, text)
    change = {"id": "item_1", "type": "file_change", "changes": [{"path": path, "kind": "add"}]}
    emit({"type": "item.completed", "item": {**change, "status": "completed"}})
    emit(
        {
            "type": "item.completed",
            "item": {"id": "item_2", "type": "agent_message", "text": f"Wrote {path}"},
        }
    )
    usage = {"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 50}
    emit({"type": "turn.completed", "usage": usage})


def edit(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def main() -> int:
    format = sys.argv[1] if len(sys.argv) > 1 else "text"
    path, _, text = os.environ.get("FAKE_CLI_EDIT", "hello.txt=hello\n").partition("=")
    hang = bool(os.environ.get("FAKE_CLI_HANG"))
    if os.environ.get("FAKE_CLI_GARBAGE"):
        print("Segmentation fault (core dumped)\nno events here", flush=True)
    elif format == "claude":
        claude(path, text, hang)
    elif format == "codex":
        codex(path, text, hang)
    else:
        edit(path, text)
        print(f"Applied edit to {path}", flush=True)
    if hang:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pids = os.environ.get("FAKE_CLI_PIDS")
        if pids:
            with open(pids, "w") as file:
                file.write(f"{os.getpid()} {child.pid}\n")
        time.sleep(600)
    code = int(os.environ.get("FAKE_CLI_EXIT", "0"))
    if code:
        print(f"fatal: the fake CLI was told to fail with {code}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
