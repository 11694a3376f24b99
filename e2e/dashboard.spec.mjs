// Browser tests of the Crewboard dashboard, as a new user would try it.
//
// Run with `make browser-test`: it starts a throwaway Crewboard (gunicorn + a Celery
// worker) and sets BASE_URL and ADMIN_PASSWORD_FILE. Tests run in order in one browser
// page: each step starts where the previous one left off. Every step fails on a console
// error, an uncaught exception, a CSP violation, an HTTP error answer or a request to any
// host other than 127.0.0.1/localhost. Screenshots go to e2e/screenshots/.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
const PASSWORD_FILE = process.env.ADMIN_PASSWORD_FILE;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOTS = process.env.SCREENSHOT_DIR || join(HERE, "screenshots");
const DEMO_NAME = "Crewboard (demo)";
const DEMO_SLUG = "crewboard-demo";
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

const STEP_TIMEOUT = 30_000;
const GENERATION_TIMEOUT = 60_000;

let browser;
let context;
let page;
let shotNumber = 0;
// Everything that should not happen, gathered between two checks.
const problems = [];

function projectUrl(path = "") {
  return `${BASE_URL}/projects/${DEMO_SLUG}/${path}`;
}

async function shot(name, options = {}) {
  shotNumber += 1;
  const file = join(SCREENSHOTS, `${String(shotNumber).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, ...options });
  return file;
}

function isLocal(url) {
  const { protocol, hostname } = new URL(url);
  if (!["http:", "https:", "ws:", "wss:"].includes(protocol)) return true; // data:, blob:, about:
  return LOCAL_HOSTS.has(hostname);
}

function assertNoProblems(step) {
  const found = problems.splice(0);
  assert.deepEqual(found, [], `${step}: the page reported problems:\n  ${found.join("\n  ")}`);
}

/** A test step that also fails on anything `problems` collected while it ran. */
function step(name, fn, timeout = STEP_TIMEOUT) {
  test(name, { timeout }, async () => {
    problems.length = 0;
    try {
      await fn();
      // Let late console messages (a failed poll, a CSP report) arrive.
      await page.waitForTimeout(250);
      assertNoProblems(name);
    } catch (error) {
      const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
      await shot(`FAILED-${slug}`, { fullPage: true }).catch(() => {});
      throw error;
    }
  });
}

/** Resolves with the first response matching `predicate`; call before the action. */
function nextResponse(predicate) {
  return page.waitForResponse(predicate, { timeout: STEP_TIMEOUT });
}

async function openTab(label, pathPattern) {
  await page.locator("nav.tabs").getByRole("link", { name: label, exact: true }).click();
  await page.waitForURL(pathPattern);
  await assertCurrentTab(label);
}

async function assertCurrentTab(label) {
  const current = page.locator('nav.tabs a[aria-current="page"]');
  assert.equal((await current.textContent()).trim(), label);
}

async function openPanel(summaryText) {
  const details = page.locator("details.panel", {
    has: page.locator("summary", { hasText: summaryText }),
  });
  if ((await details.getAttribute("open")) === null) {
    await details.locator("summary").click();
  }
  return details;
}

function taskRow(key) {
  return page.locator("tr.task-row").filter({
    has: page.locator("td.key", { hasText: new RegExp(`^\\s*${escapeRegExp(key)}\\s*$`) }),
  });
}

/** The key in the project page's "Next task" box, or null when it says none is ready. */
async function nextTaskOnPage() {
  const box = page.locator("#task-next");
  await box.waitFor();
  const key = box.locator(".next-task-name .key");
  return (await key.count()) ? (await key.textContent()).trim() : null;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("Crewboard dashboard", { concurrency: 1 }, () => {
  before(async () => {
    assert.ok(PASSWORD_FILE, "ADMIN_PASSWORD_FILE is not set; run the tests with `make browser-test`");
    rmSync(SCREENSHOTS, { recursive: true, force: true });
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Playwright gives every launch a fresh, empty --user-data-dir of its own.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: false,
    });
    // Anything that leaves the machine is a finding; stop it before it hangs a test.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      problems.push(`external request: ${route.request().method()} ${url}`);
      return route.abort("blockedbyclient");
    });
    // The page reports CSP violations as console errors too, but say so plainly.
    await context.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        console.error(
          `CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"}` +
            ` (${event.sourceFile || "?"}:${event.lineNumber || "?"}) ${event.sample || ""}`,
        );
      });
    });
    page = await context.newPage();
    // Well under the step timeout, so a missing element fails with a message saying which.
    page.setDefaultTimeout(10_000);
    page.on("console", (message) => {
      if (message.type() === "error") {
        const where = message.location()?.url ? ` [${message.location().url}]` : "";
        problems.push(`console error: ${message.text()}${where}`);
      }
    });
    page.on("pageerror", (error) => problems.push(`uncaught exception: ${error.message}`));
    page.on("response", (response) => {
      if (response.status() >= 400) {
        problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
      }
    });
    page.on("requestfailed", (request) => {
      // ERR_ABORTED is the browser cancelling a request it no longer needs (a favicon or
      // an image still loading when the page navigates away), not a failure to answer.
      if (isLocal(request.url()) && request.failure()?.errorText !== "net::ERR_ABORTED") {
        problems.push(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`);
      }
    });
  });

  after(async () => {
    await browser?.close();
  });

  step("an anonymous visitor is sent to the login page, and the admin can log in", async () => {
    const password = readFileSync(PASSWORD_FILE, "utf8").trim();
    assert.ok(password, `${PASSWORD_FILE} is empty`);

    await page.goto(`${BASE_URL}/`);
    await page.waitForURL(/\/accounts\/login\/\?next=/);
    assert.match(await page.title(), /Log in/);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(password);
    await shot("login");

    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${BASE_URL}/projects/`);
    await page.getByRole("heading", { name: "Projects", level: 1 }).waitFor();
    assert.equal((await page.locator("header.topbar .logout .muted").textContent()).trim(), "admin");
  });

  step("the project list shows the demo project", async () => {
    const row = page
      .locator("#project-table tbody tr")
      .filter({ has: page.getByRole("link", { name: DEMO_NAME, exact: true }) });
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(DEMO_SLUG));
    assert.match(await row.innerText(), /\d+\/\d+ tasks done/);
    await shot("project-list");
  });

  // Filled in by the plan step, used by the chat step.
  let nextTaskKey;

  step("the demo project shows its plan tree: features, sub-features, tasks and waves", async () => {
    await page.locator("#project-table").getByRole("link", { name: DEMO_NAME, exact: true }).click();
    await page.waitForURL(projectUrl());
    assert.match(await page.locator("h1").innerText(), /Crewboard \(demo\)/);
    await assertCurrentTab("Plan");

    const features = page.locator("section.plan > section.feature");
    const subFeatures = page.locator("section.sub-feature");
    const rows = page.locator("tr.task-row");
    assert.ok((await features.count()) >= 2, "expected several features");
    assert.ok((await subFeatures.count()) >= 2, "expected several sub-features");
    assert.ok((await rows.count()) >= 5, "expected several tasks");

    const waves = await page.locator("section.sub-feature .wave").allInnerTexts();
    assert.ok(waves.length > 0 && waves.every((w) => /^Wave \d+$/.test(w.trim())), `waves: ${waves}`);
    const headers = await page.locator("table.tasks").first().locator("thead th").allTextContents();
    const waveColumn = headers.findIndex((h) => h.trim() === "Wave");
    assert.ok(waveColumn >= 0, `task table headers: ${headers}`);
    const taskWaves = await rows.evaluateAll(
      (trs, i) => trs.map((tr) => tr.cells[i].textContent.trim()),
      waveColumn,
    );
    assert.ok(taskWaves.every((w) => /^\d+$/.test(w)), `task waves: ${taskWaves.slice(0, 10)}`);

    assert.match(await page.locator("#plan-summary").innerText(), /\d+ of \d+ tasks? done/);
    nextTaskKey = await nextTaskOnPage();
    assert.ok(nextTaskKey, "the page names a next task");
    await shot("plan");
    await page.locator("section.plan").scrollIntoViewIfNeeded();
    await shot("plan-tree");
  });

  step("changing a task's status swaps only its row, and the change persists", async () => {
    const key = nextTaskKey;
    const row = taskRow(key);
    assert.equal(await row.count(), 1, `one row for ${key}`);
    const rowId = await row.getAttribute("id");
    const select = row.locator("select.status-select");
    assert.equal(await select.inputValue(), "pending");

    // Mark the page and every row, to tell afterwards what was replaced.
    const before = await page.evaluate(() => {
      window.__e2eSamePage = true;
      const rows = [...document.querySelectorAll("tr.task-row")];
      rows.forEach((tr) => (tr.dataset.e2eMark = "1"));
      return rows.map((tr) => ({ id: tr.id, text: tr.innerText }));
    });

    const saved = nextResponse((r) => r.url().endsWith("/status/") && r.request().method() === "POST");
    const summaryRefreshed = nextResponse(
      (r) => r.url() === projectUrl() && r.request().headers()["hx-request"] === "true",
    );
    await select.selectOption("in_progress");
    assert.equal((await saved).status(), 200);
    await summaryRefreshed;
    const newRow = page.locator(`#${rowId}`);
    await page.waitForFunction((id) => {
      const tr = document.getElementById(id);
      return tr && !tr.dataset.e2eMark;
    }, rowId);

    const after = await page.evaluate(() => ({
      samePage: window.__e2eSamePage === true,
      rows: [...document.querySelectorAll("tr.task-row")].map((tr) => ({
        id: tr.id,
        text: tr.innerText,
        marked: tr.dataset.e2eMark === "1",
      })),
    }));
    assert.ok(after.samePage, "the page was reloaded; only the row should have been swapped");
    assert.deepEqual(
      after.rows.map((r) => r.id),
      before.map((r) => r.id),
      "the rows and their order are unchanged",
    );
    const replaced = after.rows.filter((r) => !r.marked).map((r) => r.id);
    assert.deepEqual(replaced, [rowId], "only the changed row was replaced");
    const others = (rows) => rows.filter((r) => r.id !== rowId).map((r) => r.text);
    assert.deepEqual(others(after.rows), others(before), "other rows show the same text");
    assert.equal(await newRow.locator("select.status-select").inputValue(), "in_progress");
    assert.match(await newRow.locator("select.status-select").getAttribute("class"), /badge--in_progress/);
    // The summary followed: the task is no longer the next one.
    assert.notEqual(await nextTaskOnPage(), key, "the next task moved on after the task started");
    await newRow.scrollIntoViewIfNeeded();
    await page.waitForTimeout(900); // the swapped row fades from yellow
    await shot("task-status-changed");

    await page.reload();
    assert.equal(await taskRow(key).locator("select.status-select").inputValue(), "in_progress");
    nextTaskKey = await nextTaskOnPage();
  });

  step("the Chat tab: start a chat, ask what is next, get the offline answer", async () => {
    await openTab("Chat", projectUrl("chat/"));
    await shot("chat-list");
    await page.getByPlaceholder("Title (optional)").fill("E2E chat");
    await page.getByRole("button", { name: "New chat" }).click();
    await page.waitForURL(new RegExp(`/projects/${DEMO_SLUG}/chat/\\d+/$`));
    await page.getByRole("heading", { name: /E2E chat/ }).waitFor();

    const message = page.getByLabel("Message");
    await message.fill("What is next?");
    await page.getByRole("button", { name: "Send" }).click();
    const reply = page.locator("#chat-messages .chat-message--assistant").last();
    await reply.waitFor();
    const question = page.locator("#chat-messages .chat-message--user").last();
    assert.match(await question.innerText(), /What is next\?/);
    // The offline assistant agrees with the "Next task" box of the project page.
    const answer = await reply.locator(".chat-content").innerText();
    if (nextTaskKey) {
      assert.match(answer, new RegExp(`^Next up: ${escapeRegExp(nextTaskKey)} `));
    } else {
      assert.match(answer, /^Nothing is ready to start\./);
    }
    assert.equal(await page.getByLabel("Message").inputValue(), "", "the form is cleared after sending");
    await page.waitForTimeout(900); // new messages fade from yellow
    await shot("chat");

    await page.reload();
    assert.equal(
      await page.locator("#chat-messages .chat-message--assistant .chat-content").last().innerText(),
      answer,
    );
  });

  step(
    "generating a plan from a Markdown list shows progress until the worker succeeds",
    async () => {
      await openTab("Plan", projectUrl());
      const panel = await openPanel("Generate plan");
      const requirements = panel.getByLabel("Requirements");
      await requirements.fill(
        [
          "# E2E browser checks",
          "",
          "- Log in through the browser",
          "- Change a task status after Log in through the browser",
          "- Generate a plan (high)",
        ].join("\n"),
      );
      await panel.getByRole("button", { name: "Generate" }).click();
      const progress = page.locator("#plan-run");
      await progress.waitFor();
      await progress.scrollIntoViewIfNeeded();
      await shot("generate-queued");

      await page
        .locator("#plan-run.run--succeeded, #plan-run.run--failed, #plan-run.run--cancelled")
        .waitFor({ timeout: GENERATION_TIMEOUT - 10_000 });
      const text = await progress.innerText();
      assert.match(await progress.getAttribute("class"), /run--succeeded/, `the run did not succeed:\n${text}`);
      assert.match(text, /Succeeded/i);
      const versionLink = progress.getByRole("link", { name: /^Version \d+$/ });
      assert.equal(await versionLink.count(), 1, `a link to the new version:\n${text}`);
      await shot("generate-succeeded");

      await progress.getByRole("link", { name: "Show the plan" }).click();
      await page.waitForURL(projectUrl());
      await page.locator("section.feature h2", { hasText: "E2E browser checks" }).waitFor();
      await page.locator("tr.task-row", { hasText: "Log in through the browser" }).first().waitFor();
    },
    GENERATION_TIMEOUT,
  );

  step("importing a small tasks.json shows the success message and the tasks", async () => {
    const tasks = {
      master: {
        tasks: [
          {
            id: 901,
            title: "E2E imported task",
            description: "Imported by the browser test.",
            status: "pending",
            priority: "high",
            dependencies: [],
            subtasks: [],
          },
          {
            id: 902,
            title: "E2E imported follow-up",
            description: "Waits for 901.",
            status: "pending",
            priority: "medium",
            dependencies: [901],
            subtasks: [],
          },
        ],
        metadata: {},
      },
    };
    const panel = await openPanel("Import plan");
    await panel.getByLabel("File").setInputFiles({
      name: "tasks.json",
      mimeType: "application/json",
      buffer: Buffer.from(JSON.stringify(tasks, null, 2)),
    });
    await panel.getByLabel("Format").selectOption("taskmaster");
    await panel.getByRole("button", { name: "Import" }).click();
    // htmx answers with HX-Redirect: a full load of the project page.
    const success = page.locator(".messages .message--success", { hasText: "Imported tasks.json" });
    await success.waitFor();
    assert.match(await success.innerText(), /version \d+/);
    await page.locator("tr.task-row", { hasText: "E2E imported follow-up" }).waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot("import-succeeded");
    await shot("plan-after-import-full", { fullPage: true });
  });

  step("the Versions tab lists the versions and opens a diff", async () => {
    await openTab("Versions", projectUrl("versions/"));
    const rows = page.locator("#version-table tbody tr");
    assert.ok((await rows.count()) >= 3, "the demo import, the generation and the import each saved one");
    await shot("versions");

    // The newest version (the tasks.json import) against the one before it.
    await rows.first().getByRole("link", { name: "previous" }).click();
    await page.waitForURL(/\/versions\/diff\/\?from=\d+&to=\d+/);
    await assertCurrentTab("Versions");
    await page.locator("#diff-summary").waitFor();
    const added = await page.locator("#diff-tasks .diff-row--added").allInnerTexts();
    assert.ok(
      added.some((t) => t.includes("E2E imported task")),
      `the diff lists the imported tasks as added: ${added}`,
    );
    await shot("version-diff");
  });

  step("the Agents tab lists the planner agent", async () => {
    await openTab("Agents", `${BASE_URL}/agents/projects/${DEMO_SLUG}/`);
    const table = page.locator("#agent-table");
    await table.waitFor();
    assert.ok((await table.locator("tbody tr").count()) >= 1, "the plan generation used an agent");
    await shot("agents");
  });

  step("the Memory tab shows facts or an empty state, and its filter works", async () => {
    await openTab("Memory", `${BASE_URL}/memory/projects/${DEMO_SLUG}/`);
    await page.locator("#fact-table").waitFor();
    await shot("memory");
    const swapped = nextResponse((r) => r.url().includes("stale=true"));
    await page.locator("#fact-stale").selectOption("true");
    assert.equal((await swapped).status(), 200);
    await page.waitForURL(/stale=true/);
    await page.locator("#fact-table").waitFor();
  });

  step("every other project tab opens", async () => {
    const known = new Set(["Plan", "Versions", "Chat", "Agents", "Memory"]);
    const tabs = (await page.locator("nav.tabs a").allTextContents()).map((t) => t.trim());
    const broken = [];
    for (const label of tabs.filter((t) => !known.has(t))) {
      await page.goto(projectUrl());
      const link = page.locator("nav.tabs").getByRole("link", { name: label, exact: true });
      const url = new URL(await link.getAttribute("href"), BASE_URL).href;
      const loaded = nextResponse((r) => r.url() === url && r.request().resourceType() === "document");
      await link.click();
      const status = (await loaded).status();
      await page.waitForURL(url);
      await shot(`tab-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`);
      if (status !== 200) {
        broken.push(`${label} (${url}) answered ${status}`);
        problems.splice(0); // reported here, once
        continue;
      }
      await assertCurrentTab(label);
    }
    assert.deepEqual(broken, [], "every tab opens");
  });

  step("on a 390px phone no page scrolls sideways, and the current tab is in view", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.goto(projectUrl());
      const tabs = (await page.locator("nav.tabs a").allTextContents()).map((t) => t.trim());
      const wide = [];
      for (const label of tabs) {
        await page.goto(projectUrl());
        const href = await page.locator("nav.tabs").getByRole("link", { name: label, exact: true }).getAttribute("href");
        await page.goto(new URL(href, BASE_URL).href);
        const layout = await page.evaluate(() => {
          const strip = document.querySelector("nav.tabs").getBoundingClientRect();
          const current = document.querySelector('nav.tabs a[aria-current="page"]').getBoundingClientRect();
          return {
            pageWidth: document.documentElement.scrollWidth,
            viewport: window.innerWidth,
            tabShown: current.left >= strip.left - 1 && current.right <= strip.right + 1,
          };
        });
        if (layout.pageWidth > layout.viewport) wide.push(`${label}: ${layout.pageWidth}px wide`);
        if (!layout.tabShown) wide.push(`${label}: its tab is scrolled out of view`);
      }
      await shot("phone-last-tab");
      assert.deepEqual(wide, [], "every tab fits a 390px screen");
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  step("the Django admin opens from the top bar", async () => {
    await page.goto(`${BASE_URL}/projects/`);
    await page.locator("header.topbar").getByRole("link", { name: "Admin" }).click();
    await page.waitForURL(`${BASE_URL}/admin/`);
    await page.getByRole("heading", { name: "Site administration" }).waitFor();
    await shot("admin");
    await page.getByRole("link", { name: "Tasks", exact: true }).first().click();
    await page.waitForURL(/\/admin\/planning\/task\/$/);
    assert.ok((await page.locator("#result_list tbody tr").count()) > 0, "the task list has rows");
    await shot("admin-tasks");
  });

  step("Swagger UI renders from local files only", async () => {
    await page.goto(`${BASE_URL}/projects/`);
    await page.locator("header.topbar").getByRole("link", { name: "API docs" }).click();
    await page.waitForURL(`${BASE_URL}/api/docs/`);
    await page.locator(".swagger-ui .info .title", { hasText: "Crewboard API" }).waitFor();
    await page.locator(".swagger-ui .opblock").first().waitFor();
    assert.ok((await page.locator(".swagger-ui .opblock").count()) > 10, "the operations are listed");
    await shot("api-docs");
  });

  step("logging out returns to the login page", async () => {
    await page.goto(`${BASE_URL}/projects/`);
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/accounts\/login\/$/);
    await page.goto(projectUrl());
    await page.waitForURL(/\/accounts\/login\/\?next=/);
  });
});
