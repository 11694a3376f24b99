// Browser tests of editing the plan from its page: the toolbar's menus (on a desktop and
// a 390px phone), adding a feature, a sub-feature and tasks, editing, reordering with the
// buttons and by drag (task rows, features and sub-features; a refused drag snaps back),
// deleting with a confirmation, and requirements reordered and covered.
// e2e/seed_plan.py makes the project. Run with `make browser-test`.

import assert from "node:assert/strict";
import { describe } from "node:test";

import {
  BASE_URL,
  expectRefusal,
  logIn,
  nextResponse,
  page,
  pageWidth,
  shot,
  step,
  taskRow,
  useBrowser,
} from "./harness.mjs";

const SLUG = "plan-e2e";
const PLAN = `${BASE_URL}/projects/${SLUG}/`;

function feature(key) {
  return page.locator("section.plan > details.feature").filter({
    has: page.locator(":scope > summary .key", { hasText: new RegExp(`^${key}$`) }),
  });
}

function subFeature(key) {
  return page.locator("details.sub-feature").filter({
    has: page.locator(":scope > summary .key", { hasText: new RegExp(`^${key}$`) }),
  });
}

function menu(name) {
  return page.locator(".plan-toolbar details.menu").filter({
    has: page.locator(":scope > summary", { hasText: name }),
  });
}

async function featureKeys() {
  return page.locator("section.plan > details.feature > summary .key").allTextContents();
}

async function rowKeys(subKey) {
  return subFeature(subKey).locator("tr.task-row td.key").allTextContents();
}

async function subFeatureKeys(featureKey) {
  return feature(featureKey).locator("details.sub-feature > summary .key").allTextContents();
}

async function requirementCodes() {
  return page.locator("tr.requirement-row td.key").allTextContents();
}

/** Drags by `handle` to just inside the top edge of `target`, as a person does: the item
 *  lands above it. Resolves with the move's answer. */
async function dragAbove(handle, target, urlPattern) {
  const from = await handle.boundingBox();
  const to = await target.boundingBox();
  const moved = nextResponse((r) => urlPattern.test(r.url()) && r.request().method() === "POST");
  const x = from.x + from.width / 2;
  await page.mouse.move(x, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(x, from.y - 5, { steps: 5 });
  await page.mouse.move(x, to.y + 2, { steps: 20 });
  await page.mouse.up();
  return moved;
}

/** Whether the input's placeholder fits its box whole (measured in the page's font). */
async function placeholderFits(input) {
  return input.evaluate((el) => {
    const style = getComputedStyle(el);
    const context = document.createElement("canvas").getContext("2d");
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const text = context.measureText(el.placeholder).width;
    const box = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return { fits: text <= box, text, box };
  });
}

/** Fills and saves the add/edit form that opened in place. */
async function saveForm(fields) {
  const form = page.locator(".item-form form").first();
  await form.waitFor();
  for (const [label, value] of Object.entries(fields)) {
    await form.getByLabel(label, { exact: true }).fill(value);
  }
  await form.getByRole("button", { name: "Save" }).click();
}

describe("Editing the plan", { concurrency: 1 }, () => {
  useBrowser("plan-edit");

  step("log in; the plan's tools are one toolbar of menus that open one at a time", async () => {
    await page.goto(`${BASE_URL}/accounts/login/`);
    await logIn();
    await page.goto(PLAN);
    const toolbar = page.locator(".plan-toolbar");
    await toolbar.waitFor();
    assert.equal(await toolbar.locator("details.menu[open]").count(), 0, "menus start closed");
    const box = await toolbar.boundingBox();
    assert.ok(box.height < 60, `the toolbar is one compact row (${box.height}px high)`);

    await menu("Import plan").locator("summary").click();
    await menu("Import plan").getByLabel("File").waitFor();
    await menu("Export").locator("summary").click();
    assert.equal(await menu("Import plan").getAttribute("open"), null, "opening one closes the other");
    for (const format of ["Markdown", "JSON", "GSD zip", "Task Master"]) {
      await menu("Export").getByRole("link", { name: format }).waitFor();
    }
    await menu("Version").locator("summary").click();
    const summary = menu("Version").getByLabel("Summary");
    await summary.waitFor();
    const fit = await placeholderFits(summary);
    assert.ok(fit.fits, `the version's placeholder is cut off: ${JSON.stringify(fit)}`);
    await menu("Version").getByRole("link", { name: "Compare versions" }).waitFor();
    await shot("toolbar-version");
    await page.keyboard.press("Escape");
    assert.equal(await menu("Version").getAttribute("open"), null, "Escape closes the menu");
  });

  step("on a 390px phone the menus fit the screen and the version placeholder shows whole", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await page.reload();
      for (const name of ["Import plan", "Generate plan", "Version", "Export"]) {
        await menu(name).locator("summary").click();
        const panel = menu(name).locator(".menu-panel");
        const box = await panel.boundingBox();
        assert.ok(box.x >= 0 && box.x + box.width <= 390, `${name}'s menu runs off the screen: ${JSON.stringify(box)}`);
        if (name === "Version") {
          const fit = await placeholderFits(menu(name).getByLabel("Summary"));
          assert.ok(fit.fits, `the version's placeholder is cut off on a phone: ${JSON.stringify(fit)}`);
          await shot("phone-version-menu");
        }
      }
      const { pageWidth: width, viewport } = await pageWidth();
      assert.ok(width <= viewport, `the plan page scrolls sideways (${width} > ${viewport})`);
      await shot("phone-toolbar", { fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  step("add a feature from the toolbar; a taken key shows the error and adds nothing", async () => {
    await page.goto(PLAN);
    await page.getByRole("link", { name: "Add a feature" }).click();
    expectRefusal("POST", `${PLAN}plan/features/add/`, 400);
    await saveForm({ Key: "01", Name: "Duplicate" });
    await page.locator(".item-form .form-errors", { hasText: "already exists" }).waitFor();
    assert.deepEqual(await featureKeys(), ["01", "02"]);
    await shot("feature-refused");

    await saveForm({ Key: "03", Name: "Reports" });
    await page.waitForURL(/\?feature=\d+#feature-\d+$/);
    assert.deepEqual(await featureKeys(), ["01", "02", "03"]);
    assert.notEqual(await feature("03").getAttribute("open"), null, "the new feature lands open");
  });

  step("add a sub-feature and two tasks to it", async () => {
    await feature("03").getByRole("link", { name: "Add a sub-feature" }).click();
    await saveForm({ Key: "03-01", Name: "Monthly report" });
    await page.waitForURL(/\?sub_feature=\d+#sub-feature-\d+$/);
    const sub = subFeature("03-01");
    assert.notEqual(await sub.getAttribute("open"), null);

    for (const name of ["Sum invoices", "Mail the report"]) {
      await subFeature("03-01").getByRole("link", { name: "Add a task" }).click();
      await saveForm({ Name: name }); // the suggested key is kept
      await page.waitForURL(/\?task=/);
      await taskRow(name === "Sum invoices" ? "03-01-T1" : "03-01-T2").waitFor();
    }
    assert.deepEqual(await rowKeys("03-01"), ["03-01-T1", "03-01-T2"]);
    await shot("added");
  });

  step("edit a task in place of its row", async () => {
    await taskRow("03-01-T1").getByRole("link", { name: "Edit 03-01-T1" }).click();
    const editing = page.locator("tr.task-row--editing");
    await editing.waitFor();
    await editing.getByLabel("Name", { exact: true }).fill("Sum the month's invoices");
    await shot("task-editing");
    await editing.getByRole("button", { name: "Save" }).click();
    await page.waitForURL(/\?task=03-01-T1/);
    assert.match(await taskRow("03-01-T1").innerText(), /Sum the month's invoices/);
  });

  step("reorder with the up/down buttons and by dragging a row", async () => {
    await taskRow("03-01-T2").getByRole("button", { name: "Move 03-01-T2 up" }).click();
    await page.waitForURL(/\?task=03-01-T2/);
    assert.deepEqual(await rowKeys("03-01"), ["03-01-T2", "03-01-T1"]);

    // Drag 03-01-T1 back above 03-01-T2 by its handle, as a person does.
    const handle = await taskRow("03-01-T1").locator(".drag-handle").boundingBox();
    const target = await taskRow("03-01-T2").boundingBox();
    const moved = nextResponse((r) => /\/plan\/tasks\/\d+\/move\/$/.test(r.url()));
    await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await page.mouse.down();
    await page.mouse.move(handle.x + handle.width / 2, handle.y - 5, { steps: 5 });
    await page.mouse.move(handle.x + handle.width / 2, target.y + 2, { steps: 20 });
    await page.mouse.up();
    assert.equal((await moved).status(), 200);
    await page.reload();
    assert.deepEqual(await rowKeys("03-01"), ["03-01-T1", "03-01-T2"]);

    await feature("03").getByRole("button", { name: "Move 03 up" }).click();
    await page.waitForURL(/\?feature=\d+/);
    assert.deepEqual(await featureKeys(), ["01", "03", "02"]);
    await shot("reordered");
  });

  step("features and sub-features are dragged by their handles; a refused drag snaps back with the reason", async () => {
    await page.goto(PLAN);
    // 03 to the top, by its handle in the collapsed feature's header.
    const moved = await dragAbove(
      feature("03").locator(":scope > summary .feature-drag"),
      feature("01").locator(":scope > summary"),
      /\/plan\/features\/\d+\/move\/$/,
    );
    assert.equal(moved.status(), 200);
    assert.deepEqual(await featureKeys(), ["03", "01", "02"]);
    assert.equal(await feature("03").getAttribute("open"), null, "the drag did not open the feature");
    await page.reload();
    assert.deepEqual(await featureKeys(), ["03", "01", "02"]);

    // A sub-feature among its feature's sub-features.
    await feature("01").locator(":scope > summary h2").click();
    await subFeature("01-02").waitFor();
    assert.deepEqual(await subFeatureKeys("01"), ["01-01", "01-02"]);
    const sub = await dragAbove(
      subFeature("01-02").locator(":scope > summary .sub-feature-drag"),
      subFeature("01-01").locator(":scope > summary"),
      /\/plan\/sub-features\/\d+\/move\/$/,
    );
    assert.equal(sub.status(), 200);
    await page.reload();
    await feature("01").locator(":scope > summary h2").click();
    await subFeature("01-02").waitFor();
    assert.deepEqual(await subFeatureKeys("01"), ["01-02", "01-01"]);

    // Feature 02 is deleted elsewhere (another tab); dragging it here is refused and it
    // goes back where it was, with the reason above the list.
    const moveUrl = await feature("02").getAttribute("data-move-url");
    const deleteUrl = moveUrl.replace(/move\/$/, "delete/");
    const deleted = await page.evaluate(async (url) => {
      const { "X-CSRFToken": token } = JSON.parse(document.body.getAttribute("hx-headers"));
      const response = await fetch(url, {
        method: "POST",
        body: new URLSearchParams({ confirm: "yes" }),
        headers: { "X-CSRFToken": token },
        credentials: "same-origin",
        redirect: "manual",
      });
      return response.type === "opaqueredirect" || response.ok;
    }, `${BASE_URL}${deleteUrl}`);
    assert.ok(deleted, "feature 02 was deleted");
    expectRefusal("POST", `${BASE_URL}${moveUrl}`, 404);
    const refused = await dragAbove(
      feature("02").locator(":scope > summary .feature-drag"),
      feature("03").locator(":scope > summary"),
      /\/plan\/features\/\d+\/move\/$/,
    );
    assert.equal(refused.status(), 404);
    const reason = page.locator("#plan-outline").locator("xpath=preceding-sibling::p[contains(@class, 'move-error')][1]");
    await reason.waitFor();
    assert.match(await reason.innerText(), /gone/);
    assert.deepEqual(await featureKeys(), ["03", "01", "02"], "the refused feature snapped back");
    await shot("feature-drag-refused");
  });

  step("deleting a sub-feature with tasks asks first and counts them", async () => {
    await page.goto(PLAN);
    await feature("03").locator(":scope > summary").click();
    // A sub-feature's controls show once it is opened.
    await subFeature("03-01").locator(":scope > summary").click();
    await subFeature("03-01").getByRole("button", { name: "Delete sub-feature 03-01" }).click();
    const confirm = page.locator("section.confirm");
    await confirm.waitFor();
    assert.match(await confirm.innerText(), /2 tasks deleted/);
    await shot("delete-confirm");
    await confirm.getByRole("button", { name: "Delete" }).click();
    await page.waitForURL(/\?feature=\d+/);
    assert.equal(await subFeature("03-01").count(), 0);

    // Nothing goes with an empty feature: it is deleted at once.
    await feature("03").getByRole("button", { name: "Delete feature 03" }).click();
    await page.waitForURL(PLAN);
    assert.deepEqual(await featureKeys(), ["01"]);
  });

  step("requirements are reordered with their arrows and by drag", async () => {
    await page.locator("nav.tabs").getByRole("link", { name: "Requirements", exact: true }).click();
    await page.waitForURL(`${PLAN}requirements/`);
    assert.deepEqual(await requirementCodes(), ["R1", "R2"]);
    await page.getByRole("button", { name: "Move R2 up" }).click();
    await page.waitForURL(/#requirement-\d+$/);
    assert.deepEqual(await requirementCodes(), ["R2", "R1"]);

    const moved = await dragAbove(
      page.locator("tr.requirement-row", { hasText: "R1" }).locator(".drag-handle"),
      page.locator("tr.requirement-row", { hasText: "R2" }),
      /\/requirements\/\d+\/move\/$/,
    );
    assert.equal(moved.status(), 200);
    assert.deepEqual(await requirementCodes(), ["R1", "R2"]);
    await page.reload();
    assert.deepEqual(await requirementCodes(), ["R1", "R2"]);
    await shot("requirements-reordered");
  });

  step("requirements show their features and coverage; linking a feature covers one", async () => {
    await page.goto(`${PLAN}requirements/`);
    assert.equal((await page.locator("#uncovered-count").textContent()).trim(), "1");
    const r2 = page.locator("tr.requirement-row", { hasText: "R2" });
    assert.match(await r2.getAttribute("class"), /requirement-row--uncovered/);
    assert.match(await page.locator("tr.requirement-row", { hasText: "R1" }).innerText(), /01 Accounts/);
    await shot("requirements");

    await r2.getByLabel("Feature to link to R2").selectOption({ label: "01 Accounts" });
    await r2.getByRole("button", { name: "Link" }).click();
    await page.waitForURL(/#requirement-\d+$/);
    assert.equal((await page.locator("#uncovered-count").textContent()).trim(), "0");
    assert.doesNotMatch(
      await page.locator("tr.requirement-row", { hasText: "R2" }).getAttribute("class"),
      /uncovered/,
    );

    await page.locator("tr.requirement-row", { hasText: "R2" }).getByRole("link", { name: "01 Accounts" }).click();
    await page.waitForURL(/\?feature=\d+#feature-\d+$/);
    assert.notEqual(await feature("01").getAttribute("open"), null);
  });
});
