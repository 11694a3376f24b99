// Browser tests of the live pages and of every page of a project on a phone. An external
// agent (its key from e2e/seed_live.py) claims and completes a task over the API while
// the board and then the plan page are open: they follow without a reload, and a column
// opened with "Show more" stays open through the refresh. Then every
// page of the project, at 390 px wide: nothing scrolls sideways, the status controls are
// in reach and tables are labelled cards. Every step also fails on a console error or a
// CSP violation (harness.mjs). Run with `make browser-test`.

import assert from "node:assert/strict";
import { describe } from "node:test";

import { BASE_URL, logIn, nextResponse, page, shot, step, taskRow, useBrowser } from "./harness.mjs";

const SLUG = "live-e2e";
const PROJECT = `${BASE_URL}/projects/${SLUG}/`;
const BOARD = `${PROJECT}board/`;
const MORE_PROJECT = `${BASE_URL}/projects/live-more-e2e/`;
const MORE_BOARD = `${MORE_PROJECT}board/`;
const API = `${BASE_URL}/api/v1/projects/${SLUG}/`;
const KEY = process.env.LIVE_AGENT_KEY;
// The header asks every 5 s while the project runs; a change shows within two rounds.
const LIVE_WAIT = 15_000;
const PHONE = { width: 390, height: 844 };

let claimed;

/** The external agent's request to the API, with its key, as the agent makes it. */
async function asAgent(path, body) {
  assert.ok(KEY, "LIVE_AGENT_KEY is not set; run the tests with `make browser-test`");
  const response = await fetch(API + path, {
    method: "POST",
    headers: { Authorization: `Agent ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function markPage() {
  await page.evaluate(() => (window.__e2eSamePage = true));
}

async function assertSamePage() {
  assert.ok(await page.evaluate(() => window.__e2eSamePage === true), "the page was not reloaded");
}

/** How the page lies on the screen: its width against the window's, the status
 *  controls out of reach, and table cells without their column's label. */
async function phoneLayout() {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const outOfReach = [];
    for (const control of document.querySelectorAll("select.status-select, .card-move select, #task-agent")) {
      const box = control.getBoundingClientRect();
      // A board card lives in a column of a strip that scrolls sideways on its own: the
      // control must fit its column, and the column the strip.
      const column = control.closest(".board-column");
      let fits = box.left >= -1 && box.right <= width + 1;
      if (column) {
        const own = column.getBoundingClientRect();
        const strip = column.closest(".board").getBoundingClientRect();
        fits = box.left >= own.left - 1 && box.right <= own.right + 1 && own.width <= strip.width + 1;
      }
      if (box.width === 0 || !fits) {
        outOfReach.push(control.getAttribute("aria-label") || control.id || control.name);
      }
    }
    const unlabelled = [];
    for (const table of document.querySelectorAll("table.table")) {
      if (!table.querySelector("thead th")) continue;
      for (const cell of table.querySelectorAll("tbody td")) {
        if (!cell.getAttribute("data-label") && !cell.hasAttribute("colspan")) {
          unlabelled.push(cell.textContent.trim().slice(0, 30));
        }
      }
      const row = table.querySelector("tbody tr");
      if (row && getComputedStyle(row).display !== "block") unlabelled.push("a row that is not a card");
    }
    return {
      pageWidth: document.documentElement.scrollWidth,
      viewport: width,
      outOfReach,
      unlabelled: unlabelled.slice(0, 5),
    };
  });
}

describe("Live pages", { concurrency: 1 }, () => {
  useBrowser("live");

  step("log in and open the running project's board: nothing is in progress", async () => {
    await page.goto(`${BASE_URL}/accounts/login/`);
    await logIn();
    await page.goto(BOARD);
    assert.equal(await page.locator("#column-todo li.card").count(), 2);
    assert.equal(await page.locator("#column-in_progress li.card").count(), 0);
    // The header's live part loads after the page and keeps asking while the project runs.
    await page.locator('#project-live[hx-trigger*="every 5s"]').waitFor();
    await markPage();
    await shot("board-before");
  });

  step(
    "an external agent claims LIVE-1: its card moves to In progress and the header says so, without a reload",
    async () => {
      const claim = await asAgent("tasks/claim/", { lease_seconds: 600 });
      assert.equal(claim.status, 201, JSON.stringify(claim.body));
      assert.equal(claim.body.task.key, "LIVE-1");
      claimed = claim.body.run;
      const card = page.locator('#column-in_progress li.card[data-key="LIVE-1"]');
      await card.waitFor({ timeout: LIVE_WAIT });
      assert.match(await card.innerText(), /outside-1/);
      await page.locator("#project-live .project-coding", { hasText: "1 in progress" }).waitFor({ timeout: LIVE_WAIT });
      assert.equal(await page.locator("#column-todo li.card").count(), 1);
      await assertSamePage();
      await shot("board-claimed");
    },
  );

  step("the agent completes it: the plan page's open row, summary and header follow, without a reload", async () => {
    const row = taskRow("LIVE-1");
    await page.goto(`${PROJECT}?task=LIVE-1`);
    assert.equal(await row.locator("select.status-select").inputValue(), "in_progress");
    await markPage();

    const done = await asAgent(`runs/${claimed.id}/complete/`, { attempt: claimed.attempt, result: {} });
    assert.equal(done.status, 200, JSON.stringify(done.body));

    await page.waitForFunction(
      () => {
        const select = [...document.querySelectorAll("tr.task-row")]
          .find((tr) => tr.querySelector("td.key")?.textContent.trim() === "LIVE-1")
          ?.querySelector("select.status-select");
        return select && select.value === "done";
      },
      null,
      { timeout: LIVE_WAIT },
    );
    await page.locator("#plan-summary", { hasText: "1 of 2 tasks done" }).waitFor({ timeout: LIVE_WAIT });
    // What the reader opened stays open: the refresh swaps headers and rows, not groups.
    assert.notEqual(await page.locator("details.sub-feature--loose").getAttribute("open"), null);
    // Nothing in progress any more: the header says nothing about work going on.
    await page.locator("#project-live .project-coding").waitFor({ state: "detached", timeout: LIVE_WAIT });
    await assertSamePage();
    await shot("plan-completed");
  });

  step("a board column opened with Show more keeps its cards when a change elsewhere refreshes the board", async () => {
    await page.goto(MORE_BOARD);
    const todo = page.locator("#column-todo li.card");
    assert.equal(await todo.count(), 20);
    await page.locator("#column-todo").getByRole("link", { name: "Show more" }).click();
    await page.waitForFunction(() => document.querySelectorAll("#column-todo li.card").length === 40);
    await page.locator('#project-live[hx-trigger*="every 5s"]').waitFor();
    await markPage();

    // Someone else starts a card (a request of its own, as another tab or person would):
    // the header's poll finds the change and the board asks for its columns again,
    // naming the column opened to its second page.
    const refreshed = nextResponse((r) => r.url().startsWith(MORE_BOARD) && /shown=todo(%3A|:)2/.test(r.url()));
    const moved = await page.evaluate(async (url) => {
      const { "X-CSRFToken": token } = JSON.parse(document.body.getAttribute("hx-headers"));
      const response = await fetch(url, {
        method: "POST",
        body: new URLSearchParams({ status: "in_progress" }),
        headers: { "HX-Request": "true", "X-CSRFToken": token },
        credentials: "same-origin",
      });
      return response.status;
    }, `${MORE_PROJECT}tasks/MORE-45/move/`);
    assert.equal(moved, 200);
    await page.locator('#column-in_progress li.card[data-key="MORE-45"]').waitFor({ timeout: LIVE_WAIT });
    assert.equal((await refreshed).status(), 200);
    assert.equal(await todo.count(), 40, "the opened column kept its second page");
    await page.locator("#column-todo").getByRole("link", { name: "Show more" }).waitFor();
    await assertSamePage();
    await shot("board-show-more-kept");
  });

  step("the task page shows the run, its history and who did it; its agent is changed in place", async () => {
    await page.goto(`${PROJECT}tasks/LIVE-2/`);
    await page.locator("#task-record #task-history").waitFor();
    await page.locator("#task-agent").selectOption({ label: "outside-1" });
    await page
      .locator("#task-who #task-agent option[selected]", { hasText: "outside-1" })
      .waitFor({ state: "attached" });

    await page.goto(`${PROJECT}tasks/LIVE-1/`);
    const run = page.locator("#task-runs").getByRole("link", { name: `Run ${claimed.id}` });
    await run.waitFor();
    assert.match(await page.locator("#task-history").innerText(), new RegExp(`Run ${claimed.id} succeeded`));
    await shot("task-page", { fullPage: true });
  });

  step("on a 390px phone every page of the project fits, keeps its status controls in reach and shows tables as labelled cards", async () => {
    await page.setViewportSize(PHONE);
    try {
      await page.goto(PROJECT);
      const tabs = await page.locator("nav.tabs a").evaluateAll((links) => links.map((a) => a.href));
      const pages = [
        ...tabs,
        `${PROJECT}?task=LIVE-2`,
        `${PROJECT}tasks/LIVE-1/`,
        `${BASE_URL}/agents/projects/${SLUG}/runs/${claimed.id}/`,
        `${BASE_URL}/agents/projects/${SLUG}/tool-calls/?task=LIVE-1`,
        `${BASE_URL}/projects/`,
      ];
      const problems = [];
      for (const url of pages) {
        await page.goto(url);
        // Parts loaded after the page (the header, a task's record) are in by now.
        await page.waitForLoadState("networkidle");
        const layout = await phoneLayout();
        const where = url.replace(BASE_URL, "");
        if (layout.pageWidth > layout.viewport) problems.push(`${where}: ${layout.pageWidth}px wide`);
        if (layout.outOfReach.length) problems.push(`${where}: out of reach: ${layout.outOfReach.join(", ")}`);
        if (layout.unlabelled.length) problems.push(`${where}: unlabelled cells: ${layout.unlabelled.join(" | ")}`);
        await shot(`phone-${where.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "home"}`, { fullPage: true });
      }
      assert.deepEqual(problems, [], "every page fits a 390px screen");
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  }, 120_000);
});
