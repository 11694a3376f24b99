// Browser tests of the Crewboard dashboard, as a new user would try it.
//
// Run with `make browser-test`: it starts a throwaway Crewboard (gunicorn + a Celery
// worker) and sets BASE_URL and ADMIN_PASSWORD_FILE. Tests run in order in one browser
// page: each step starts where the previous one left off. Every step fails on a console
// error, an uncaught exception, a CSP violation, an HTTP error answer or a request to any
// host other than 127.0.0.1/localhost (harness.mjs). Screenshots go to
// e2e/screenshots/dashboard/.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe } from "node:test";
import { fileURLToPath } from "node:url";

import {
  BASE_URL,
  PASSWORD_FILE,
  assertCurrentTab,
  escapeRegExp,
  expectRefusal,
  nextResponse,
  openPanel,
  openTab,
  page,
  shot,
  step,
  takeProblems,
  taskRow,
  openPlan,
  gotoTask,
  useBrowser,
} from "./harness.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const DEMO_NAME = "Crewboard (demo)";
const DEMO_SLUG = "crewboard-demo";
// The coding demo: a small repository whose test fails, and a project with one task.
const CODING_NAME = "Calculator (demo)";
const CODING_SLUG = "calculator-demo";
// This checkout, whose examples/demo_coder.py the coder runs as a command of its own.
const CHECKOUT = dirname(HERE);

const GENERATION_TIMEOUT = 60_000;
const CODING_TIMEOUT = 90_000;

function projectUrl(path = "", slug = DEMO_SLUG) {
  return `${BASE_URL}/projects/${slug}/${path}`;
}

function codingUrl(path = "") {
  return projectUrl(path, CODING_SLUG);
}

function codingAgentsUrl(path = "") {
  return `${BASE_URL}/agents/projects/${CODING_SLUG}/${path}`;
}

/** `text` as one word of a command line that the server splits like a shell. */
function shellWord(text) {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** The key in the project page's "Next task" box, or null when it says none is ready. */
async function nextTaskOnPage() {
  const box = page.locator("#task-next");
  await box.waitFor();
  const key = box.locator(".next-task-name .key");
  return (await key.count()) ? (await key.textContent()).trim() : null;
}

describe("Crewboard dashboard", { concurrency: 1 }, () => {
  useBrowser("dashboard");

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

  step("the demo project shows its plan as an outline that opens: features, sub-features, tasks and waves", async () => {
    await page.locator("#project-table").getByRole("link", { name: DEMO_NAME, exact: true }).click();
    await page.waitForURL(projectUrl());
    assert.match(await page.locator("h1").innerText(), /Crewboard \(demo\)/);
    await assertCurrentTab("Plan");

    // Features come collapsed, with counts and progress; no task is on the page yet.
    const features = page.locator("section.plan > details.feature");
    assert.ok((await features.count()) >= 2, "expected several features");
    assert.equal(await page.locator("section.plan details[open]").count(), 0, "everything starts collapsed");
    assert.equal(await page.locator("tr.task-row").count(), 0, "tasks load when opened");
    assert.match(await features.first().locator("summary").innerText(), /\d+\/\d+ tasks? done/);
    await shot("plan-collapsed");

    // Opening a feature loads its sub-features, opening a sub-feature its tasks.
    const first = features.first();
    const bodyLoaded = nextResponse((r) => r.url().includes("/plan/features/") && r.status() === 200);
    await first.locator(":scope > summary").click();
    await bodyLoaded;
    await first.locator("details.sub-feature").first().waitFor();
    await openPlan();

    const subFeatures = page.locator("details.sub-feature:not(.sub-feature--loose)");
    const rows = page.locator("tr.task-row");
    assert.ok((await subFeatures.count()) >= 2, "expected several sub-features");
    assert.ok((await rows.count()) >= 5, "expected several tasks");

    const waves = await page.locator("details.sub-feature .wave").allInnerTexts();
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
    // The summary's URL names the features whose headers it brings (?features=...).
    const summaryRefreshed = nextResponse(
      (r) => r.url().split("?")[0] === projectUrl() && r.request().headers()["hx-request"] === "true",
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
    // The summary followed: the task is no longer the next one. Its answer has arrived,
    // but htmx swaps it in only once the whole body is read.
    await page
      .waitForFunction(
        (started) => document.querySelector("#task-next .next-task-name .key")?.textContent.trim() !== started,
        key,
        { timeout: 5_000 },
      )
      .catch(() => {});
    assert.notEqual(await nextTaskOnPage(), key, "the next task moved on after the task started");
    await newRow.scrollIntoViewIfNeeded();
    await page.waitForTimeout(900); // the swapped row fades from yellow
    await shot("task-status-changed");

    // A link to the task opens its feature and sub-feature, with its row in view.
    const reopened = await gotoTask(projectUrl(), key);
    assert.equal(await reopened.locator("select.status-select").inputValue(), "in_progress");
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
      await page.locator("details.feature h2", { hasText: "E2E browser checks" }).waitFor();
      await openPlan();
      await page.locator("tr.task-row", { hasText: "Log in through the browser" }).first().waitFor();
    },
    GENERATION_TIMEOUT,
  );

  step("importing a small tasks.json from another source previews it, and Merge adds its tasks", async () => {
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
    // The plan came from the demo's GSD files and a generation: a tasks.json is another
    // source, so the form previews what it would change before anything is written.
    const preview = page.locator("#plan-import-preview");
    await preview.waitFor();
    assert.match(await preview.innerText(), /Nothing is imported until you choose/);
    await shot("import-preview");
    await preview.getByRole("button", { name: "Merge" }).click();
    // htmx answers with HX-Redirect: a full load of the project page.
    const success = page.locator(".messages .message--success", { hasText: "Imported tasks.json" });
    await success.waitFor();
    assert.match(await success.innerText(), /version \d+/);
    await openPlan();
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
        takeProblems(); // reported here, once
        continue;
      }
      await assertCurrentTab(label);
    }
    assert.deepEqual(broken, [], "every tab opens");
  });

  // Filled in by the coding steps, and visited again on the phone.
  let demoRoot;
  let executorUrl;
  let codingRunUrl;
  let commandsConfined;

  step("the coding demo is listed, with its one task ready", async () => {
    await page.goto(`${BASE_URL}/projects/`);
    await page.locator("#project-table").getByRole("link", { name: CODING_NAME, exact: true }).click();
    await page.waitForURL(codingUrl());
    assert.equal(await nextTaskOnPage(), "CALC-1");
    await openPlan();
    assert.equal(await taskRow("CALC-1").locator("select.status-select").inputValue(), "pending");
    assert.equal(await nextTaskOnPage(), "CALC-1");
    await shot("coding-plan");
  });

  step("its Settings tab shows the repository, the commands, the QA limit, tools, network and executor", async () => {
    await openTab("Settings", codingUrl("settings/"));
    const form = page.locator("#project-settings-form");
    const field = (label) => form.getByLabel(label, { exact: true });
    demoRoot = await field("Root path").inputValue();
    assert.match(demoRoot, /^\/.+\/demo-repo$/, "the root path is the repository bootstrap made");
    assert.equal(await field("Base branch").inputValue(), "main");
    assert.equal(await field("Setup command").inputValue(), "");
    assert.equal(await field("Verify command").inputValue(), "");
    assert.equal(await field("Max QA iterations").inputValue(), "3");
    const enabled = await form
      .locator('input[name="enabled_tools"]')
      .evaluateAll((boxes) => boxes.filter((box) => box.checked).map((box) => box.value));
    for (const tool of ["read_file", "write_file", "edit_file", "run_command", "git_diff", "git_commit"]) {
      assert.ok(enabled.includes(tool), `${tool} is enabled: ${enabled}`);
    }
    assert.equal(await field("Allow network").isChecked(), false);
    assert.equal(await field("Default executor").inputValue(), "builtin");
    await shot("coding-settings", { fullPage: true });
  });

  step("saving a bad root path shows the error on the form and keeps the old value", async () => {
    const form = page.locator("#project-settings-form");
    const rootPath = form.getByLabel("Root path", { exact: true });
    // The throwaway folder the repository lives in: there, but not a git work tree.
    const notARepository = dirname(demoRoot);
    await rootPath.fill(notARepository);
    expectRefusal("POST", codingUrl("settings/"));
    const answered = nextResponse((r) => r.url() === codingUrl("settings/") && r.request().method() === "POST");
    await form.getByRole("button", { name: "Save settings" }).click();
    assert.equal((await answered).status(), 400);
    const invalid = form.locator(".field--invalid");
    await invalid.waitFor();
    assert.equal(await invalid.count(), 1, "one field is marked");
    assert.equal(await invalid.locator("label").innerText(), "Root path");
    assert.equal(
      await invalid.locator(".field-error").innerText(),
      `root_path ${notARepository} is not a git work tree`,
    );
    await shot("coding-settings-bad-root");

    await page.reload();
    assert.equal(await form.getByLabel("Root path", { exact: true }).inputValue(), demoRoot);
    assert.equal(await form.locator(".field--invalid").count(), 0);
  });

  step("a setup command saves, and the page says so", async () => {
    const form = page.locator("#project-settings-form");
    // It also holds each run at a stage of its own for a few seconds, so the run step
    // below sees the run live rather than only its end.
    const setup = 'echo "Setting up the worktree"; sleep 3';
    await form.getByLabel("Setup command", { exact: true }).fill(setup);
    await form.getByRole("button", { name: "Save settings" }).click();
    // htmx answers with HX-Redirect: a full load of the settings page.
    await page.locator(".messages .message--success", { hasText: "Saved the project's settings." }).waitFor();
    assert.equal(await form.getByLabel("Setup command", { exact: true }).inputValue(), setup);
    assert.equal(await form.getByLabel("Root path", { exact: true }).inputValue(), demoRoot);
  });

  step("the Settings tab also holds the name, the mode with what it means, and the concurrency", async () => {
    const form = page.locator("#project-settings-form");
    const field = (label) => form.getByLabel(label, { exact: true });
    assert.equal(await field("Name").inputValue(), CODING_NAME);
    const mode = form.locator(".field", { has: page.getByLabel("Mode", { exact: true }) });
    assert.match(await mode.locator(".help").innerText(), /Evolution: changes to an existing codebase/);
    await field("Concurrent runs").fill("3");
    await form.getByRole("button", { name: "Save settings" }).click();
    await page.locator(".messages .message--success", { hasText: "Saved the project's settings." }).waitFor();
    assert.equal(await form.getByLabel("Concurrent runs", { exact: true }).inputValue(), "3");
  });

  step("the Members tab: the owner adds a member, changes their role, and the last owner stays", async () => {
    await openTab("Members", codingUrl("members/"));
    const add = page.locator("#member-add-form");
    // An unknown name: refused without saying whether such an account exists.
    await add.getByLabel("Username", { exact: true }).fill("nobody-here");
    expectRefusal("POST", codingUrl("members/add/"));
    await add.getByRole("button", { name: "Add member" }).click();
    await page.locator(".field-error", { hasText: "cannot be added. Check the username." }).waitFor();

    await page.locator("#member-add-form").getByLabel("Username", { exact: true }).fill("riley");
    await page.locator("#member-add-form").getByLabel("Role", { exact: true }).selectOption("viewer");
    await page.locator("#member-add-form").getByRole("button", { name: "Add member" }).click();
    await page.locator(".messages .message--success", { hasText: "Added riley as viewer." }).waitFor();

    await page.getByLabel("Role of riley", { exact: true }).selectOption("editor");
    await page.locator("#member-table tr", { hasText: "riley" }).getByRole("button", { name: "Change role" }).click();
    await page.locator(".messages .message--success", { hasText: "riley is now editor." }).waitFor();

    const ownerRow = page.locator("#member-table tr", { hasText: "admin" });
    const removeOwner = await ownerRow.locator('form[action$="/remove/"]').getAttribute("action");
    expectRefusal("POST", new URL(removeOwner, BASE_URL).href, 409);
    await ownerRow.getByRole("button", { name: "Remove" }).click();
    await page.locator(".form-errors", { hasText: "A project needs at least one owner." }).waitFor();
    await shot("coding-members", { fullPage: true });

    await page.locator("#member-table tr", { hasText: "riley" }).getByRole("button", { name: "Remove" }).click();
    await page.locator(".messages .message--success", { hasText: "Removed riley from the project." }).waitFor();
    assert.equal(await page.locator("#member-table tbody tr").count(), 1);
  });

  function coderRow() {
    return page.locator("#agent-table tbody tr", {
      has: page.getByRole("cell", { name: "coder", exact: true }),
    });
  }

  step("on the offline provider, Run with the built-in coder says what to configure, and nothing starts", async () => {
    await openTab("Agents", codingAgentsUrl());
    assert.match(await coderRow().innerText(), /Built-in/);
    const controls = page.locator("#run-controls");
    expectRefusal("POST", codingAgentsUrl("run/"));
    const answered = nextResponse((r) => r.url() === codingAgentsUrl("run/"));
    await controls.getByRole("button", { name: "Run", exact: true }).click();
    assert.equal((await answered).status(), 400);
    const error = page.locator("#run-controls .run-error[role=alert]");
    await error.waitFor();
    const text = await error.innerText();
    assert.match(text, /^coder: The offline LLM provider cannot write code\./);
    for (const setting of ["LLM_PROVIDER=openai", "LLM_BASE_URL", "LLM_API_KEY"]) {
      assert.ok(text.includes(setting), `the message names ${setting}: ${text}`);
    }
    assert.match(text, /a command of your own/);
    // The refusal keeps the rest of the panel: whether commands run confined.
    const confinement = await page.locator("#run-controls #commands-confinement").innerText();
    commandsConfined = /run inside bubblewrap/.test(confinement);
    assert.ok(commandsConfined || /run unconfined/.test(confinement), confinement);
    await shot("coding-run-refused");

    await page.reload();
    assert.equal((await page.locator("#run-controls .badge").innerText()).trim(), "Planning");
    await controls.getByRole("button", { name: "Run", exact: true }).waitFor();
    assert.match(await coderRow().innerText(), /Idle/);
    await page.locator("#run-table .empty", { hasText: "No runs yet." }).waitFor();
  });

  step("switching the coder to a command of your own, on the agents page", async () => {
    await coderRow().getByRole("link", { name: "Change coder's executor" }).click();
    await page.waitForURL(new RegExp(`/agents/projects/${CODING_SLUG}/\\d+/executor/$`));
    executorUrl = page.url();
    await assertCurrentTab("Agents");
    const form = page.locator("#agent-executor-form");
    const executor = form.getByLabel("Executor", { exact: true });
    assert.equal(await executor.inputValue(), "builtin");
    await executor.selectOption("command");

    // A command of your own needs its command line.
    expectRefusal("POST", executorUrl);
    const refused = nextResponse((r) => r.url() === executorUrl && r.request().method() === "POST");
    await form.getByRole("button", { name: "Save executor" }).click();
    assert.equal((await refused).status(), 400);
    const error = form.locator(".field--invalid .field-error");
    await error.waitFor();
    assert.match(await error.innerText(), /^The command executor needs a command/);
    assert.equal(await executor.inputValue(), "command", "the form keeps the choice");

    const script = shellWord(join(CHECKOUT, "examples", "demo_coder.py"));
    const command = `python3 ${script} {worktree} {prompt_file}`;
    await form.getByLabel("Command", { exact: true }).fill(command);
    await shot("coding-executor-form");
    await form.getByRole("button", { name: "Save executor" }).click();
    await page.waitForURL(codingAgentsUrl());
    const saved = page.locator(".messages .message--success");
    await saved.waitFor();
    assert.match(await saved.innerText(), /^coder now writes code with a command of your own: python3 \S*demo_coder\.py/);
    const row = coderRow();
    assert.match(await row.innerText(), /Command of your own/);
    assert.equal(await row.locator(".executor-problem").count(), 0, "the command can run here");
    await shot("coding-agents-command");
  });

  step(
    "Run: the run page shows the log as it grows, the stage, the branch and the changes; the task ends in review",
    async () => {
      await page.locator("#run-controls").getByRole("button", { name: "Run", exact: true }).click();
      // htmx answers with HX-Redirect: a full load of the agents page, with the outcome.
      await page
        .locator(".messages .message--success", { hasText: "The project is running: started 1 run." })
        .waitFor();
      await page.locator("#run-table").getByRole("link", { name: /^Run \d+$/ }).first().click();
      await page.waitForURL(new RegExp(`/agents/projects/${CODING_SLUG}/runs/\\d+/$`));
      codingRunUrl = page.url();
      await page.evaluate(() => (window.__e2eSamePage = true));

      // Live: where the run is, and the log as each poll brings more of it.
      const summary = page.locator("#run-summary");
      const log = page.locator("#run-log-text");
      const stages = new Set();
      const logLengths = [];
      const ended = page.locator("#run-summary.run--succeeded, #run-summary.run--failed, #run-summary.run--cancelled");
      const deadline = Date.now() + CODING_TIMEOUT - 20_000;
      while (!(await ended.count())) {
        assert.ok(Date.now() < deadline, `the run did not end:\n${await summary.innerText()}`);
        const header = await summary.locator(".run-header").innerText();
        const stage = /· (preparing|coding|verifying)\b/.exec(header)?.[1];
        if (stage && !stages.has(stage)) {
          stages.add(stage);
          await shot(`coding-run-${stage}`, { fullPage: true });
        }
        logLengths.push((await log.textContent()).length);
        await page.waitForTimeout(250);
      }
      assert.ok(stages.size > 0, "the page showed the run's stage while it ran");
      const text = await summary.innerText();
      assert.match(await summary.getAttribute("class"), /run--succeeded/, `the run did not succeed:\n${text}`);

      await page.locator("#run-log-text", { hasText: "# task check passed" }).waitFor();
      const logText = await log.textContent();
      assert.ok(await page.evaluate(() => window.__e2eSamePage === true), "the log grew without a reload");
      assert.ok(logLengths[0] < logText.length, `the log grew: ${logLengths[0]} → ${logText.length} characters`);
      for (const line of ["Setting up the worktree", "mean() now returns 0.0 for an empty list.", "Ran 3 tests"]) {
        assert.ok(logText.includes(line), `the log shows "${line}":\n${logText}`);
      }
      const branch = summary.locator("dt", { hasText: "Branch" }).locator("xpath=following-sibling::dd[1]");
      assert.match(await branch.innerText(), /^crewboard\/CALC-1-1 in \//);
      assert.equal((await page.locator("#run-task-status").innerText()).trim(), "Review");
      assert.match(await page.locator("#run-next").innerText(), /^CALC-1 waits for review: the work is on branch crewboard\/CALC-1-1/);
      const changes = page.locator("#run-diff .diff-files", { hasText: "calc/stats.py" });
      await changes.waitFor({ timeout: 15_000 });
      assert.match(await page.locator("#run-diff").innerText(), /Changes so far\s+1 file changed/);
      assert.match(await page.locator("#run-decisions").innerText(), /No decisions logged\.$/);
      // The task's check ran as the agents page said commands run: inside bubblewrap
      // where it works here (the checkout and the worktrees may both live under /tmp).
      const check = page.locator("#run-loose-calls .tool-call", {
        has: page.locator("code.tool-name", { hasText: /^verify$/ }),
      });
      await check.locator("summary").click();
      const output = await check.locator(".tool-call-body").innerText();
      assert.match(output, /"exit_code": 0/);
      assert.match(output, new RegExp(`"confined": ${commandsConfined}`), output);
      await shot("coding-run-review", { fullPage: true });

      const row = await gotoTask(codingUrl(), "CALC-1");
      assert.equal(await row.locator("select.status-select").inputValue(), "review");
      assert.match(await page.locator("#task-review-waiting").innerText(), /^1 waits for review/);
      await shot("coding-plan-review");
    },
    CODING_TIMEOUT,
  );

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
      // The coding demo's own pages: its settings, an agent's executor, a coding run.
      for (const [name, url] of [
        ["coding settings", codingUrl("settings/")],
        ["agents", codingAgentsUrl()],
        ["executor", executorUrl],
        ["coding run", codingRunUrl],
      ]) {
        if (!url) continue; // its step failed, and said so
        await page.goto(url);
        const layout = await page.evaluate(() => ({
          pageWidth: document.documentElement.scrollWidth,
          viewport: window.innerWidth,
        }));
        if (layout.pageWidth > layout.viewport) wide.push(`${name}: ${layout.pageWidth}px wide`);
        await shot(`phone-${name.replace(/ /g, "-")}`, { fullPage: true });
      }
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
