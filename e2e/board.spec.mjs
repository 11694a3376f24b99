// Browser tests of the board: a card dragged to another column, a card moved from the
// keyboard with its "Move to" form, and a forbidden drag that snaps back with its
// reason. e2e/seed_board.py makes the project. Run with `make browser-test`.

import assert from "node:assert/strict";
import { describe } from "node:test";

import { BASE_URL, expectRefusal, logIn, nextResponse, page, shot, step, useBrowser } from "./harness.mjs";

const SLUG = "board-e2e";
const BOARD = `${BASE_URL}/projects/${SLUG}/board/`;

function card(key) {
  return page.locator(`li.card[data-key="${key}"]`);
}

function column(slug) {
  return page.locator(`#column-${slug}`);
}

/** Drags `key`'s card onto the column `slug` with the mouse, as a person does. */
async function drag(key, slug) {
  const from = await card(key).locator(".card-title").boundingBox();
  const to = await column(slug).boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2 + 10, { steps: 5 });
  await page.mouse.move(to.x + to.width / 2, to.y + 20, { steps: 20 });
  await page.mouse.up();
}

describe("The board", { concurrency: 1 }, () => {
  useBrowser("board");

  step("log in and open the board from the project's tabs", async () => {
    await page.goto(`${BASE_URL}/accounts/login/`);
    await logIn();
    await page.goto(`${BASE_URL}/projects/${SLUG}/`);
    await page.locator("nav.tabs").getByRole("link", { name: "Board", exact: true }).click();
    await page.waitForURL(BOARD);
    assert.equal(await column("todo").locator("li.card").count(), 3);
    assert.equal(await card("BRD-1").locator(".card-title strong").textContent(), "In progress");
    await shot("board");
  });

  step("dragging a card to another column moves its task", async () => {
    const moved = nextResponse((r) => r.url().endsWith("/tasks/BRD-1/move/"));
    await drag("BRD-1", "in_progress");
    assert.equal((await moved).status(), 200);
    await column("in_progress").locator('li.card[data-key="BRD-1"][data-status="in_progress"]').waitFor();
    await page.reload();
    assert.equal(await column("in_progress").locator('li.card[data-key="BRD-1"]').count(), 1);
    await shot("dragged");
  });

  step("a forbidden drag snaps back and says why", async () => {
    expectRefusal("POST", `${BASE_URL}/projects/${SLUG}/tasks/BRD-2/move/`, 409);
    const refused = nextResponse((r) => r.url().endsWith("/tasks/BRD-2/move/"));
    await drag("BRD-2", "done");
    assert.equal((await refused).status(), 409);
    const error = card("BRD-2").locator(".card-error");
    await error.waitFor();
    assert.match(await error.textContent(), /BRD-2 cannot move to done: it waits for BRD-3/);
    assert.equal(await column("todo").locator('li.card[data-key="BRD-2"]').count(), 1);
    assert.equal(await column("done").locator("li.card").count(), 0);
    await shot("refused");
  });

  step("the keyboard moves a card with its Move to form", async () => {
    const select = page.getByLabel("Move BRD-3 to");
    await select.focus();
    await select.selectOption({ label: "In review" });
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.waitForURL(BOARD);
    await page.locator(".message", { hasText: "BRD-3 moved to In review." }).waitFor();
    assert.equal(await column("review").locator('li.card[data-key="BRD-3"]').count(), 1);
    await shot("keyboard");
  });

  step("a card's key opens the task's page, where its name is edited in place", async () => {
    await card("BRD-3").getByRole("link", { name: "BRD-3" }).click();
    await page.waitForURL(`${BASE_URL}/projects/${SLUG}/tasks/BRD-3/`);
    await page.locator("#task-fields summary", { hasText: "Edit" }).click();
    await page.locator("#task-fields").getByLabel("Name").fill("Moved from the *keyboard*");
    const saved = nextResponse((r) => r.url().endsWith("/tasks/BRD-3/edit/"));
    await page.getByRole("button", { name: "Save" }).click();
    assert.equal((await saved).status(), 200);
    await page.locator("#task-title em", { hasText: "keyboard" }).waitFor();
    assert.equal(await page.locator('#task-dependencies a[href$="/tasks/BRD-2/"]').count(), 1);
    await shot("task-page");
  });

  step("a dependency that would close a cycle is refused with its path", async () => {
    expectRefusal("POST", `${BASE_URL}/projects/${SLUG}/tasks/BRD-3/dependencies/`, 400);
    await page.getByLabel("Waits for (task key)").fill("BRD-2");
    const refused = nextResponse((r) => r.url().endsWith("/tasks/BRD-3/dependencies/"));
    await page.getByRole("button", { name: "Add", exact: true }).click();
    assert.equal((await refused).status(), 400);
    await page.locator("#task-dependencies", { hasText: "BRD-3 -> BRD-2 -> BRD-3" }).waitFor();
  });

  step("a subtask is added under the task", async () => {
    await page.getByRole("button", { name: "Add subtask" }).waitFor();
    await page.locator("#task-subtasks").getByLabel("Name").fill("A smaller step");
    const added = nextResponse((r) => r.url().endsWith("/tasks/BRD-3/subtasks/"));
    await page.getByRole("button", { name: "Add subtask" }).click();
    assert.equal((await added).status(), 200);
    await page.locator('#task-subtasks a[href$="/tasks/BRD-3.1/"]').waitFor();
  });
});
