"""The users bench/load.py sends at a served Crewboard (locust, headless).

- `ExternalAgent`: claims the next task with its own key, reports a batch of tool calls
  and a decision, then completes the run with the claim's attempt; when nothing is ready
  it waits a little and claims again.
- `DashboardReader`: logs in as a member and reads the plan, agents, activity and
  analytics pages.

bench/load.py passes the target in LOAD_* environment variables. This file imports no
Django: locust patches the standard library with gevent at import.
"""

import itertools
import json
import os
import re

from locust import HttpUser, between, task

SLUG = os.environ.get("LOAD_PROJECT", "")
AGENT_KEYS = [key for key in os.environ.get("LOAD_AGENT_KEYS", "").split(",") if key]
READER = os.environ.get("LOAD_READER", "reader")
READER_PASSWORD = os.environ.get("LOAD_READER_PASSWORD", "")
CLAIMED_LOG = os.environ.get("LOAD_CLAIMED_LOG", "")
API = f"/api/v1/projects/{SLUG}"
# Each agent user takes the next key, so no two users share an agent.
_keys = itertools.cycle(AGENT_KEYS)


class ExternalAgent(HttpUser):
    # Exactly as many of each user as bench/load.py asks for (locust would otherwise
    # split the users between the classes by weight).
    fixed_count = len(AGENT_KEYS)
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Agent {next(_keys)}"
        self.client.headers["Content-Type"] = "application/json"
        self.reports = 0

    @task
    def work_one_task(self) -> None:
        with self.client.post(
            f"{API}/tasks/claim/", data="{}", name="claim", catch_response=True
        ) as response:
            if response.status_code == 204:
                response.success()
                return
            if response.status_code != 201:
                response.failure(f"claim answered {response.status_code}: {response.text[:200]}")
                return
            claim = response.json()
        run_id, attempt = claim["run"]["id"], claim["run"]["attempt"]
        if CLAIMED_LOG:
            with open(CLAIMED_LOG, "a") as log:
                log.write(f"{claim['task']['key']}\n")
        self.reports += 1
        calls = [
            {
                "call_id": f"c{self.reports}-{n}",
                "tool_name": "edit_file",
                "input": {"path": f"src/module_{n}.py"},
                "status": "succeeded",
                "output": {"changed": True},
                "duration_ms": 12,
            }
            for n in range(5)
        ]
        self.client.post(f"{API}/runs/{run_id}/tool-calls/", data=json.dumps(calls), name="report")
        decision = {"decision": "Keep the parser", "reasoning": {"why": "load test"}}
        self.client.post(
            f"{API}/runs/{run_id}/decisions/", data=json.dumps(decision), name="decide"
        )
        done = {"attempt": attempt, "result": {"commit": "0" * 40}}
        self.client.post(f"{API}/runs/{run_id}/complete/", data=json.dumps(done), name="complete")


class DashboardReader(HttpUser):
    fixed_count = int(os.environ.get("LOAD_READERS", "4"))
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        page = self.client.get("/accounts/login/", name="login page").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        self.client.post(
            "/accounts/login/",
            data={
                "username": READER,
                "password": READER_PASSWORD,
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            name="login",
        )

    @task(3)
    def plan(self) -> None:
        self.client.get(f"/projects/{SLUG}/", name="plan page")

    @task(2)
    def agents(self) -> None:
        self.client.get(f"/agents/projects/{SLUG}/", name="agents page")

    @task(2)
    def activity(self) -> None:
        self.client.get(f"/agents/projects/{SLUG}/activity/", name="activity page")

    @task(1)
    def analytics(self) -> None:
        self.client.get(f"/projects/{SLUG}/analytics/", name="analytics page")
