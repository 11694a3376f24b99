// What every browser test file shares: one headless Chromium page, steps that fail on
// anything the page reports, screenshots, and small helpers for Crewboard's pages.
//
// A spec file calls `useBrowser("name")` inside its describe(): the browser starts
// before its first step, and its screenshots go to e2e/screenshots/<name>/. Every step
// fails on a console error, an uncaught exception, a CSP violation, an HTTP error answer
// or a request to any host other than 127.0.0.1/localhost.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
export const BASE_URL = (process.env.BASE_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
export const PASSWORD_FILE = process.env.ADMIN_PASSWORD_FILE;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT_ROOT = process.env.SCREENSHOT_DIR || join(HERE, "screenshots");
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export const STEP_TIMEOUT = 30_000;
export const DESKTOP = { width: 1280, height: 900 };

let browser;
let context;
// The one page the steps drive (a live binding: set once the browser has started).
export let page;
let screenshots;
let shotNumber = 0;
// Everything that should not happen, gathered between two checks.
const problems = [];
// Error answers the current step asks for (a form with a mistake answers 400), so that
// they and the browser's console line about them are not problems.
const refusals = [];

/** Lets the current step get `status` for `method` `url` (a full URL). */
export function expectRefusal(method, url, status = 400) {
  refusals.push({ method, url, status });
}

function isRefusal(method, url, status) {
  return refusals.some((r) => r.url === url && r.status === status && (method === null || r.method === method));
}

export async function shot(name, options = {}) {
  shotNumber += 1;
  const file = join(screenshots, `${String(shotNumber).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, ...options });
  return file;
}

function isLocal(url) {
  const { protocol, hostname } = new URL(url);
  if (!["http:", "https:", "ws:", "wss:"].includes(protocol)) return true; // data:, blob:, about:
  return LOCAL_HOSTS.has(hostname);
}

/** Drops what the page reported so far, returning it (a step that reports it itself). */
export function takeProblems() {
  return problems.splice(0);
}

function assertNoProblems(step) {
  const found = problems.splice(0);
  assert.deepEqual(found, [], `${step}: the page reported problems:\n  ${found.join("\n  ")}`);
}

/** A test step that also fails on anything the page reported while it ran. */
export function step(name, fn, timeout = STEP_TIMEOUT) {
  test(name, { timeout }, async () => {
    problems.length = 0;
    refusals.length = 0;
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

/** Starts the browser before the enclosing describe()'s first step; screenshots go to
 *  e2e/screenshots/<name>/. */
export function useBrowser(name) {
  before(async () => {
    assert.ok(PASSWORD_FILE, "ADMIN_PASSWORD_FILE is not set; run the tests with `make browser-test`");
    screenshots = join(SCREENSHOT_ROOT, name);
    rmSync(screenshots, { recursive: true, force: true });
    mkdirSync(screenshots, { recursive: true });
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
    context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: false });
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
        const refused = /^Failed to load resource: the server responded with a status of (\d+)/.exec(message.text());
        if (refused && isRefusal(null, message.location()?.url, Number(refused[1]))) return;
        const where = message.location()?.url ? ` [${message.location().url}]` : "";
        problems.push(`console error: ${message.text()}${where}`);
      }
    });
    page.on("pageerror", (error) => problems.push(`uncaught exception: ${error.message}`));
    page.on("response", (response) => {
      if (response.status() >= 400 && !isRefusal(response.request().method(), response.url(), response.status())) {
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
}

/** Logs in as the admin that `manage.py bootstrap` made, from the login page. */
export async function logIn() {
  const password = readFileSync(PASSWORD_FILE, "utf8").trim();
  assert.ok(password, `${PASSWORD_FILE} is empty`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(`${BASE_URL}/projects/`);
}

/** Resolves with the first response matching `predicate`; call before the action. */
export function nextResponse(predicate) {
  return page.waitForResponse(predicate, { timeout: STEP_TIMEOUT });
}

export async function openTab(label, pathPattern) {
  await page.locator("nav.tabs").getByRole("link", { name: label, exact: true }).click();
  await page.waitForURL(pathPattern);
  await assertCurrentTab(label);
}

export async function assertCurrentTab(label) {
  const current = page.locator('nav.tabs a[aria-current="page"]');
  assert.equal((await current.textContent()).trim(), label);
}

export async function openPanel(summaryText) {
  // A panel of its own, or a menu of the plan's toolbar.
  const details = page.locator("details.panel, details.menu", {
    has: page.locator("summary", { hasText: summaryText }),
  });
  if ((await details.getAttribute("open")) === null) {
    await details.locator("summary").click();
  }
  return details;
}

/**
 * Opens every collapsed feature and sub-feature of the plan page, each loading its part
 * (htmx) when opened, and waits until each has arrived. Features first, then the
 * sub-features (and groups of loose tasks) their bodies brought.
 */
export async function openPlan() {
  for (const kind of ["feature", "sub-feature"]) {
    for (;;) {
      const closed = page.locator(`section.plan details.${kind}:not([open])`).first();
      if (!(await closed.count())) break;
      const id = await closed.getAttribute("id");
      const details = page.locator(`[id="${id}"]`);
      await details.locator(":scope > summary").click();
      await details.locator(":scope > div > p.htmx-indicator").waitFor({ state: "detached" });
    }
  }
}

/** Loads a plan page with the task `key` opened (its feature, sub-feature and page). */
export async function gotoTask(planUrl, key) {
  await page.goto(`${planUrl}?task=${encodeURIComponent(key)}`);
  return taskRow(key);
}

/** A task's row in a project's plan. */
export function taskRow(key) {
  return page.locator("tr.task-row").filter({
    has: page.locator("td.key", { hasText: new RegExp(`^\\s*${escapeRegExp(key)}\\s*$`) }),
  });
}

/** The page's width against the window's: a page wider than its window scrolls sideways. */
export async function pageWidth() {
  return page.evaluate(() => ({
    pageWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
  }));
}

export function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
