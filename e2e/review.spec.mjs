// Browser tests of a task's review page, as a person reviewing an agent's work would use
// it: read the diff (unified and split, whitespace, a large file opened in place),
// comment on lines, ask for changes, approve and watch the merge land.
//
// Run with `make browser-test`. The project comes from e2e/seed_review.py: a repository of
// its own (REVIEW_REPO) and two tasks in review, REV-1 (a diff of every kind of file
// change) and REV-2 (a small one to merge). The project stays in planning, so the
// attempt sent back for changes waits for its agent and nothing moves but what the
// steps do. The merge runs on the real Celery worker that run.sh starts.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe } from "node:test";

import {
  BASE_URL,
  DESKTOP,
  assertCurrentTab,
  logIn,
  nextResponse,
  page,
  pageWidth,
  shot,
  step,
  gotoTask,
  useBrowser,
} from "./harness.mjs";

const SLUG = "review-e2e";
const REPO = process.env.REVIEW_REPO;
const PRICING = "shop/pricing.py";
const LONG_PATH =
  "src/shop/integrations/payment_providers/a_provider_with_a_rather_long_name/" +
  "webhook_signature_verification_handler.py";
const MERGE_TIMEOUT = 45_000;

function planUrl() {
  return `${BASE_URL}/projects/${SLUG}/`;
}

function reviewUrl(key, query = "") {
  return `${BASE_URL}/agents/projects/${SLUG}/tasks/${key}/review/${query}`;
}

function fileSection(path) {
  return page.locator(`section.pf[data-path="${path}"]`);
}

function fileTable(path) {
  return page.locator(`table.pl-table[data-path="${path}"]`);
}

function git(...args) {
  return execFileSync("git", ["-C", REPO, ...args], { encoding: "utf8" }).trim();
}

/** Widths of the cells of a diff table's first line (not its hunk header). */
async function cellWidths(path) {
  return fileTable(path)
    .locator("tr.pl")
    .first()
    .evaluate((tr) => [...tr.cells].map((td) => td.getBoundingClientRect().width));
}

/** The code of a line's cell, without its "+" button. */
async function codeText(cell) {
  return cell.evaluate((td) =>
    [...td.childNodes]
      .filter((node) => !(node instanceof HTMLButtonElement))
      .map((node) => node.textContent)
      .join(""),
  );
}

/** Opens the form to comment on `line` of `side`, from the "+" of that line. */
async function openCommentForm(path, side, line, view) {
  const target =
    view === "split"
      ? fileTable(path).locator(`td.pl-code[data-side="${side}"][data-line="${line}"]`)
      : fileTable(path).locator(`tr.pl[data-side="${side}"][data-line="${line}"]`);
  await target.scrollIntoViewIfNeeded();
  await target.hover();
  const plus = target.locator("button.pl-comment");
  assert.equal(await plus.evaluate((b) => getComputedStyle(b).opacity), "1", "the + shows on the line under the pointer");
  const answered = nextResponse((r) => r.url().includes("/review/comment-form/"));
  await plus.click();
  assert.equal((await answered).status(), 200);
  const form = page.locator("#comment-form #review-comment-form");
  await form.waitFor();
  return form;
}

describe("Reviewing an agent's work", { concurrency: 1 }, () => {
  useBrowser("review");

  step("log in", async () => {
    assert.ok(REPO, "REVIEW_REPO is not set; run the tests with `make browser-test`");
    await page.goto(`${BASE_URL}/accounts/login/`);
    await logIn();
  });

  step("the plan links a task in review to its review page: summary, checks and a readable diff", async () => {
    const row = await gotoTask(planUrl(), "REV-1");
    assert.equal(await row.locator("select.status-select").inputValue(), "review");
    await row.getByRole("link", { name: "Review the diff" }).click();
    await page.waitForURL(reviewUrl("REV-1"));
    await assertCurrentTab("Plan");

    const summary = page.locator("#review-summary");
    assert.match(await summary.locator(".run-title").innerText(), /^REV-1 Prices in whole cents/);
    assert.equal((await page.locator("#review-task-status").innerText()).trim(), "Review");
    assert.match(await summary.innerText(), /Branch\s+crewboard\/REV-1-1 into main/);
    const checks = page.locator("#review-checks");
    assert.match(await checks.innerText(), /python3 -m unittest[\s\S]*passed[\s\S]*Ran 4 tests/);

    assert.match(await page.locator(".pd-summary").innerText(), /^6 files changed, \+1715 −15$/);
    const tree = await page.locator(".pd-tree a.pd-tree-file").allInnerTexts();
    assert.deepEqual(tree.map((t) => t.trim()).sort(), [
      "catalogue.csv",
      "legacy_discounts.py",
      "pricing.py",
      "release-notes.txt",
      "shop.ini",
      "webhook_signature_verification_handler.py",
    ]);
    const status = async (path) => (await fileSection(path).locator(".pf-status").innerText()).trim().toLowerCase();
    assert.equal(await status(PRICING), "modified");
    assert.equal(await status("shop/legacy_discounts.py"), "deleted");
    assert.equal(await status("docs/release-notes.txt"), "renamed");
    assert.equal(await status(LONG_PATH), "added");
    assert.match(await fileSection("docs/release-notes.txt").innerText(), /Renamed without changes\./);
    assert.match(await fileSection("data/catalogue.csv").innerText(), /Large diff \(1701 changed lines\) hidden\. Show/);

    // Readable: monospace, highlighted, and the code gets the width, not the line numbers.
    const table = fileTable(PRICING);
    assert.match(await table.evaluate((t) => getComputedStyle(t).fontFamily), /monospace/);
    assert.ok((await table.locator(".pl-code span.k", { hasText: "def" }).count()) >= 4, "keywords are highlighted");
    const [oldNumber, newNumber, code] = await cellWidths(PRICING);
    assert.ok(oldNumber < 80 && newNumber < 80, `line numbers are narrow: ${oldNumber}, ${newNumber}`);
    assert.ok(code > 6 * oldNumber, `the code has the room: ${code}px beside ${oldNumber}px`);
    const added = table.locator('tr.pl--add[data-line="3"] .pl-code');
    assert.equal(await codeText(added), "VAT_PERCENT = 20");
    assert.notEqual(
      await added.evaluate((td) => getComputedStyle(td).backgroundColor),
      await table.locator('tr.pl--context[data-line="4"] .pl-code').evaluate((td) => getComputedStyle(td).backgroundColor),
      "an added line is coloured",
    );
    // The page never scrolls sideways: a long line wraps, a long path breaks.
    const { pageWidth: width, viewport } = await pageWidth();
    assert.ok(width <= viewport, `the page is ${width}px wide in a ${viewport}px window`);
    await shot("review-unified", { fullPage: true });
  });

  step("Split puts the old and new lines side by side, and Unified comes back", async () => {
    await page.locator(".pd-toggle").getByRole("link", { name: "Split" }).click();
    await page.waitForURL(reviewUrl("REV-1", "?view=split"));
    assert.equal(await page.locator('.pd-toggle a[aria-current="true"]').innerText(), "Split");
    const table = fileTable(PRICING);
    assert.match(await table.getAttribute("class"), /pl-table--split/);
    const [oldNumber, oldCode, newNumber, newCode] = await cellWidths(PRICING);
    assert.ok(Math.abs(oldCode - newCode) <= 1, `the two sides are as wide: ${oldCode}, ${newCode}`);
    assert.ok(Math.abs(oldNumber - newNumber) <= 1 && oldNumber < 80, `numbers: ${oldNumber}, ${newNumber}`);
    // A changed line sits beside what it replaced.
    const pair = table.locator("tr.pl", { has: page.locator('td[data-side="old"][data-line="3"]') });
    assert.equal(await codeText(pair.locator('td[data-side="old"]')), "VAT = 0.2");
    assert.equal(await codeText(pair.locator('td[data-side="new"]')), "VAT_PERCENT = 20");
    await table.scrollIntoViewIfNeeded();
    await shot("review-split");

    await page.locator(".pd-toggle").getByRole("link", { name: "Unified" }).click();
    await page.waitForURL(/\/review\/\??$/);
    assert.match(await fileTable(PRICING).getAttribute("class"), /pl-table--unified/);
  });

  step("Hide whitespace changes leaves a file whose only change was spacing as a note", async () => {
    const ini = fileSection("config/shop.ini");
    assert.equal(await ini.locator("tr.pl--add").count(), 1);
    await page.getByRole("link", { name: "Hide whitespace changes" }).click();
    await page.waitForURL(reviewUrl("REV-1", "?ws=ignore"));
    assert.match(await ini.innerText(), /Only whitespace changed\./);
    assert.equal(await ini.locator("table").count(), 0);
    await page.getByRole("link", { name: "Show whitespace changes" }).click();
    await page.waitForURL(/\/review\/\??$/);
    assert.equal(await ini.locator("tr.pl--add").count(), 1);
  });

  step("a large file opens in place with Show", async () => {
    await page.evaluate(() => (window.__e2eSamePage = true));
    const catalogue = fileSection("data/catalogue.csv");
    const opened = nextResponse((r) => r.url().includes("file=data%2Fcatalogue.csv") && r.status() === 200);
    await catalogue.getByRole("link", { name: "Show" }).click();
    await opened;
    await fileTable("data/catalogue.csv").waitFor();
    assert.equal(await fileTable("data/catalogue.csv").locator("tr.pl--add").count(), 1701);
    assert.ok(await page.evaluate(() => window.__e2eSamePage === true), "the file opened without a reload");
    const last = fileTable("data/catalogue.csv").locator("tr.pl--add").last().locator(".pl-code");
    assert.equal(await codeText(last), "SKU-01700,Item number 1700,1800");
  });

  step("+ on a line opens the comment form; Cancel closes it; Add to review keeps a draft under the line", async () => {
    await page.goto(reviewUrl("REV-1"));
    let form = await openCommentForm(PRICING, "new", 11, "unified");
    assert.equal(await form.locator("label").innerText(), `Comment on ${PRICING} line 11`);
    assert.ok(
      await form.locator("textarea").evaluate((t) => document.activeElement === t),
      "the comment box has the focus",
    );
    // It floats over the diff, opaque, while it is written.
    assert.notEqual(await form.evaluate((f) => getComputedStyle(f).backgroundColor), "rgba(0, 0, 0, 0)");
    await shot("review-comment-form");
    await form.getByRole("button", { name: "Cancel" }).click();
    await page.locator("#comment-form").waitFor({ state: "hidden" });
    assert.equal(await page.locator("#review-comment-form").count(), 0);

    form = await openCommentForm(PRICING, "new", 11, "unified");
    await form.locator("textarea").fill("Floor division loses a cent:\n199 cents at 20% is 238.8.");
    await form.getByRole("button", { name: "Add to review" }).click();
    await page.waitForURL(/\/review\/#f-[0-9a-f]+-n11$/);
    const line = fileTable(PRICING).locator('tr.pl[data-side="new"][data-line="11"]');
    const draft = line.locator("xpath=following-sibling::tr[1]").locator(".pl-note--draft");
    assert.match(await draft.innerText(), /^Your draft\s+Floor division loses a cent:\n199 cents at 20% is 238\.8\.$/);
    assert.ok(await draft.isVisible());
    const drafts = page.locator("#review-drafts li");
    assert.equal(await drafts.count(), 1);
    assert.match(await drafts.first().innerText(), new RegExp(`^${PRICING}:11 Floor division`));
    await shot("review-draft");
  });

  step("a comment on an old line in the split view comes back to the split view", async () => {
    await page.goto(reviewUrl("REV-1", "?view=split"));
    const form = await openCommentForm(PRICING, "old", 3, "split");
    assert.equal(await form.locator("label").innerText(), `Comment on ${PRICING} line 3 (old side)`);
    await form.locator("textarea").fill("Keep a note of why VAT became a percentage.");
    await form.getByRole("button", { name: "Add to review" }).click();
    await page.waitForURL(/\/review\/\?view=split#f-[0-9a-f]+-o3$/);
    const cell = fileTable(PRICING).locator('td[data-side="old"][data-line="3"]');
    const thread = cell.locator("xpath=ancestor::tr[1]/following-sibling::tr[1]");
    assert.match(await thread.getAttribute("class"), /pl-thread/);
    assert.match(await thread.locator("td").first().innerText(), /Keep a note of why VAT became a percentage\./);
    assert.equal(await page.locator("#review-drafts li").count(), 2);
    assert.match(await page.locator("#review-verdict").innerText(), /2 comments go with your review/);
  });

  step("on a 390px phone the review page does not scroll sideways; a split file scrolls in its box", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const query of ["", "?view=split"]) {
        await page.goto(reviewUrl("REV-1", query));
        const { pageWidth: width, viewport } = await pageWidth();
        assert.ok(width <= viewport, `${query || "unified"}: the page is ${width}px wide in ${viewport}px`);
        await fileTable(PRICING).scrollIntoViewIfNeeded();
        await shot(`phone-review${query ? "-split" : ""}`);
      }
      const body = fileSection(PRICING).locator(".pf-body");
      assert.ok(
        await body.evaluate((b) => b.scrollWidth > b.clientWidth),
        "the split table keeps readable columns and scrolls inside its file",
      );
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });

  step("Request changes sends the work back with the comments; the task leaves review", async () => {
    await page.goto(reviewUrl("REV-1"));
    const verdict = page.locator("#review-verdict");
    assert.match(await verdict.innerText(), /Request changes: the work goes back to coder with your comments\./);
    await verdict.getByLabel(/^Review/).fill("Close. The rounding needs a look.");
    await verdict.getByRole("button", { name: "Request changes" }).click();
    await page.waitForURL(reviewUrl("REV-1"));
    assert.equal(
      await page.locator(".messages .message--success").innerText(),
      "You asked for changes to REV-1 (2 comments): its agent takes it up again.",
    );
    assert.equal((await page.locator("#review-task-status").innerText()).trim(), "In Progress");
    assert.match(await page.locator("#review-no-attempt").innerText(), /^REV-1 went back to its agent with admin's review/);
    assert.equal(await page.locator("#review-verdict").count(), 0, "no verdict to give on work not in review");
    const review = page.locator("#review-history .review").first();
    assert.match(await review.getAttribute("class"), /review--request_changes/);
    const text = await review.innerText();
    assert.match(text, /^admin: Request changes/);
    assert.match(text, /Close\. The rounding needs a look\./);
    assert.match(text, new RegExp(`${PRICING}:11 Floor division loses a cent`));
    assert.match(text, new RegExp(`${PRICING}:3 \\(old\\) Keep a note`));
    await shot("review-changes-requested", { fullPage: true });

    assert.equal(
      await (await gotoTask(planUrl(), "REV-1")).locator("select.status-select").inputValue(),
      "in_progress",
    );
    assert.equal(git("rev-parse", "--abbrev-ref", "HEAD"), "main");
  });

  step(
    "Approve and merge: the page follows the merge until the work is on main and the task is done",
    async () => {
      const before = git("rev-parse", "main");
      await (await gotoTask(planUrl(), "REV-2")).getByRole("link", { name: "Review the diff" }).click();
      await page.waitForURL(reviewUrl("REV-2"));
      assert.match(await page.locator(".pd-summary").innerText(), /^2 files changed/);
      await page.locator("#review-verdict").getByRole("button", { name: "Approve and merge" }).click();
      await page.waitForURL(reviewUrl("REV-2"));
      assert.equal(
        await page.locator(".messages .message--success").innerText(),
        "You approved REV-2: it is being merged.",
      );
      await page.locator("#review-merge").waitFor();
      // The worker may already have merged it; if not, the page asks until it has.
      if (await page.locator("#review-merge.merge--queued").count()) {
        assert.equal(await page.locator("#review-verdict").count(), 0, "no second verdict while the merge is queued");
        await shot("review-merge-queued");
      }
      await page.locator("#review-merge.merge--merged").waitFor({ timeout: MERGE_TIMEOUT - 10_000 });
      const merged = git("rev-parse", "main");
      assert.notEqual(merged, before, "main moved");
      assert.match(await page.locator("#review-merge").innerText(), new RegExp(`^Merge: merged as ${merged.slice(0, 12)}`));
      assert.equal((await page.locator("#review-task-status").innerText()).trim(), "Done");
      assert.equal(await page.locator("#review-verdict").count(), 0);
      // Squashed into one commit on main, with the work in it; the diff still reads.
      assert.equal(git("rev-list", "--count", `${before}..main`), "1");
      assert.equal(git("show", "main:shop/tax.py"), "RATES = {'standard': 20, 'reduced': 5}");
      assert.match(await fileSection("shop/tax.py").innerText(), /RATES = \{'standard': 20, 'reduced': 5\}/);
      assert.match(await page.locator("#review-history .review").first().innerText(), /^admin: Approve/);
      await shot("review-merged", { fullPage: true });

      const mergedRow = await gotoTask(planUrl(), "REV-2");
      assert.equal(await mergedRow.locator("select.status-select").inputValue(), "done");
    },
    MERGE_TIMEOUT,
  );
});
