// The console in a real browser: Playwright (playwright-core) driving Debian's chromium,
// against a projector that tests/tests/console.rs started with real mail in it.
// Environment: CONSOLE_URL, TOKEN_VIEWER, TOKEN_ANALYST, TOKEN_ADMIN, TOKEN_OTHER,
// SCREENSHOTS (a folder), CHROMIUM (the browser's path). Exits non-zero on the first failure.

import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const BASE = process.env.CONSOLE_URL;
const SHOTS = process.env.SCREENSHOTS;
const T = {
  viewer: process.env.TOKEN_VIEWER,
  analyst: process.env.TOKEN_ANALYST,
  admin: process.env.TOKEN_ADMIN,
  other: process.env.TOKEN_OTHER,
};
assert.ok(BASE && SHOTS && T.viewer && T.analyst && T.admin && T.other, "environment incomplete");
mkdirSync(SHOTS, { recursive: true });
// A failed run leaves failure-N.png; a new run starts without them.
for (const f of readdirSync(SHOTS)) if (f.startsWith("failure-")) rmSync(path.join(SHOTS, f));

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const axeReport = [];
const steps = [];
const step = (name) => { steps.push(name); console.log(`console: ${name}`); };

async function newPage(viewport = { width: 1280, height: 800 }) {
  // bypassCSP: only so that axe-core can be injected; the page itself runs under its CSP.
  const context = await browser.newContext({ viewport, bypassCSP: true, acceptDownloads: true });
  const page = await context.newPage();
  pages.push(page);
  page.on("pageerror", (e) => { throw new Error(`page error: ${e.message}`); });
  return page;
}

async function axe(page, view) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  axeReport.push({ view, violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) });
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`), [], `axe on ${view}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page, token) {
  await page.goto(`${BASE}/console/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Sections" }).waitFor();
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
}

async function openBySubject(page, words) {
  await page.goto(`${BASE}/console/#/search?subject=${encodeURIComponent(words)}`);
  // (A results table of an earlier search may still be on the page: click the link of the
  // message itself, whichever table shows it.)
  await page.locator("#results tbody a", { hasText: new RegExp(words.split(" ").join(".*")) }).first().click();
  await page.locator("#timeline").waitFor();
}

const pages = [];
async function run() {
  // --- sign-in, and what a wrong token gets -----------------------------------------------
  const page = await newPage();
  await page.goto(`${BASE}/console/`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  // Nothing of the signed-in console shows before a sign-in succeeds.
  assert.equal(await page.getByRole("navigation", { name: "Sections" }).isVisible(), false, "no section links before sign-in");
  await axe(page, "sign-in");
  await shot(page, "sign-in-desktop");
  await page.getByLabel("API token").fill("pst_not_a_token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That token is not known here.").waitFor();
  step("a wrong token is refused with a message");

  // --- the analyst: activity --------------------------------------------------------------
  await signIn(page, T.analyst);
  const cookie = (await page.context().cookies()).find((c) => c.name === "postern_session");
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === "Strict", `session cookie: ${JSON.stringify(cookie)}`);
  assert.equal(await page.evaluate(() => document.cookie.includes("postern_session")), false, "scripts cannot read the session");
  await page.getByRole("heading", { name: "Email activity" }).waitFor();
  await page.locator("#activity-chart").waitFor();
  const cards = await page.locator(".card").allInnerTexts();
  assert.ok(cards[0].startsWith("4"), `four messages on the activity page: ${cards}`);
  assert.ok(cards.some((c) => c.includes("SUSPICIOUS") && c.startsWith("1")), `one SUSPICIOUS: ${cards}`);
  assert.ok(cards.some((c) => c.includes("BULK") && c.startsWith("1")), `one BULK: ${cards}`);
  await page.getByRole("link", { name: "mailer-notices.example" }).waitFor();
  await axe(page, "activity");
  await shot(page, "activity-desktop");
  await page.getByRole("link", { name: "30 days" }).click();
  await page.waitForURL(/days=30/);
  await page.locator("#activity-chart").waitFor();
  step("activity: totals per disposition, chart, top sender domains, range switch");
  // A number is a link into the matching search.
  await page.getByRole("link", { name: "gardening-weekly.example" }).click();
  // The hash changes when the browser has handled the click, not when click() returns.
  await page.waitForURL(/domain=gardening-weekly.example/);
  await page.locator("#results").waitFor();
  assert.match(await page.locator("#results tbody").innerText(), /planting garlic/);
  step("activity links into the matching search");

  // --- investigation, by keyboard ---------------------------------------------------------
  await page.goto(`${BASE}/console/#/search`);
  await page.locator("#f-alert_id").waitFor();
  await page.locator("#f-alert_id").focus();
  for (let i = 0; i < 6; i++) await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-subject", "Tab reaches the subject field");
  await page.keyboard.type("PayPal limited");
  await page.keyboard.press("Enter");
  // Implicit submission runs after press() returns: wait for the query to reach the URL.
  await page.waitForURL(/subject=PayPal\+limited|subject=PayPal%20limited/);
  // The results of this search (the table of the search before it is replaced).
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll("#results tbody tr");
    return rows.length === 1 && rows[0].innerText.includes("PayPal");
  });
  const rows = await page.locator("#results tbody tr").allInnerTexts();
  assert.equal(rows.length, 1, `one result: ${rows}`);
  assert.match(rows[0], /SUSPICIOUS/);
  await axe(page, "investigation");
  await shot(page, "investigation-desktop");
  // The query is in the URL: a bookmark opens the same results.
  const bookmark = page.url();
  const again = await newPage();
  await signIn(again, T.analyst);
  await again.goto(bookmark);
  await again.locator("#results").waitFor();
  assert.match(await again.locator("#results tbody").innerText(), /PayPal/);
  const [download] = await Promise.all([again.waitForEvent("download"), again.getByRole("button", { name: "Export CSV" }).click()]);
  const csv = await (await import("node:fs/promises")).readFile(await download.path(), "utf8");
  assert.match(csv.split("\r\n")[0], /^received_at,postern_id,message_id/);
  assert.match(csv, /Your PayPal account is limited/);
  // A subject that is a spreadsheet formula leaves the export defused (an apostrophe first).
  await again.goto(`${BASE}/console/#/search?sender=formula%40partner.example`);
  await again.locator("#results tbody tr", { hasText: "HYPERLINK" }).waitFor();
  const [formulaDownload] = await Promise.all([again.waitForEvent("download"), again.getByRole("button", { name: "Export CSV" }).click()]);
  const formulaCsv = await (await import("node:fs/promises")).readFile(await formulaDownload.path(), "utf8");
  assert.match(formulaCsv, /"'=HYPERLINK\(""http:\/\/evil\.example\/"",""Open""\)"/);
  assert.doesNotMatch(formulaCsv, /(^|,)"=/m);
  await again.context().close();
  step("investigation: keyboard search, results, bookmarkable URL, CSV export (formulas defused)");

  // --- the phish: its story ---------------------------------------------------------------
  await openBySubject(page, "PayPal limited");
  assert.match(await page.locator("#detections").innerText(), /brand_link_spoof/);
  assert.match(await page.locator("main").innerText(), /Final:\s*SUSPICIOUS/);
  await page.getByText("All headers").waitFor();
  assert.match(await page.locator("main").innerText(), /Message-ID: <brand-1@fixtures.example>|brand-1@fixtures.example/);
  assert.ok(await page.getByRole("link", { name: "Download raw message" }).isVisible());
  await axe(page, "message");
  await shot(page, "message-phish-desktop");
  step("message: detections with evidence, headers, raw download");

  // --- reclassify the newsletter to SPAM (team: applied at once) -------------------------
  await openBySubject(page, "planting garlic");
  assert.match(await page.locator("main").innerText(), /Final:\s*BULK/);
  await page.locator("#r-disposition").focus();
  await page.keyboard.press("Home");
  await page.locator("#r-disposition").selectOption("SPAM");
  await page.locator("#r-comment").fill("a list nobody here subscribed to");
  await page.locator("#r-comment").focus();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.locator("#reclassify-status").getByText(/ACCEPTED, final SPAM/).waitFor({ timeout: 30000 });
  assert.match(await page.locator("main").innerText(), /Final:\s*SPAM/);
  assert.match(await page.locator("#timeline").innerText(), /Reclassif/i);
  await shot(page, "message-reclassified-desktop");
  step("reclassify by keyboard: the trace shows SPAM");

  // --- a USER submission, accepted by an admin -------------------------------------------
  await openBySubject(page, "lunch on Thursday");
  await page.locator("#r-disposition").selectOption("SPAM");
  await page.locator("#r-type").selectOption("user");
  await page.getByRole("button", { name: "Reclassify" }).click();
  await page.locator("#reclassify-status").getByText(/PENDING/).waitFor({ timeout: 30000 });
  // A cookie-authenticated write without the session's CSRF token is refused.
  const noCsrf = await page.evaluate(async () => {
    const r = await fetch("/api/v1/reclassifications", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message_id: "personal-1@fixtures.example", disposition: "SPAM", type: "team" }) });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(noCsrf.status, 403);
  assert.equal(noCsrf.body.error.code, "csrf");
  step("a USER submission is pending; a write without the CSRF token is refused");
  await signOut(page);
  await signIn(page, T.admin);
  await page.goto(`${BASE}/console/#/reclassifications?status=pending`);
  await page.locator("#queue").waitFor();
  const pending = page.locator("#queue tbody tr", { hasText: "lunch on Thursday" });
  await axe(page, "reclassifications");
  await shot(page, "reclassifications-desktop");
  await pending.getByRole("textbox").fill("agreed, a scam");
  await pending.getByRole("button", { name: "Accept" }).click();
  await page.goto(`${BASE}/console/#/reclassifications?status=accepted&type=user`);
  await page.locator("#queue tbody tr", { hasText: "lunch on Thursday" }).waitFor({ timeout: 30000 }).catch(async () => {
    await page.reload();
    await page.locator("#queue tbody tr", { hasText: "lunch on Thursday" }).waitFor({ timeout: 30000 });
  });
  assert.match(await page.locator("#queue tbody tr", { hasText: "lunch on Thursday" }).innerText(), /ACCEPTED/);
  step("an admin accepts the USER submission from the queue");

  // --- the policy, read-only --------------------------------------------------------------
  await page.goto(`${BASE}/console/#/policy`);
  await page.locator("#policy-history").waitFor();
  const policyText = await page.locator("main").innerText();
  assert.match(policyText, /known-bad\.example/);
  assert.match(policyText, /corp\.example/);
  assert.match(await page.locator("#policy-history").innerText(), /default|admin|revision|1/);
  await axe(page, "policy");
  await shot(page, "policy-desktop");
  step("policy: the stored policy and its change history");

  // --- a viewer sees no write controls, and the server refuses a write anyway ------------
  await signOut(page);
  await signIn(page, T.viewer);
  await openBySubject(page, "PayPal limited");
  assert.equal(await page.locator("#reclassify").count(), 0, "no reclassify form for a viewer");
  assert.match(await page.locator("main").innerText(), /need the analyst role/);
  assert.match(await page.locator("#auth-checks").innerText(), /DMARC/);
  const viewerWrite = await page.evaluate(async () => {
    const s = await (await fetch("/console/session")).json();
    const r = await fetch("/api/v1/reclassifications", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf }, body: JSON.stringify({ message_id: "brand-1@fixtures.example", disposition: "NONE", type: "team" }) });
    return r.status;
  });
  assert.equal(viewerWrite, 403);
  await page.goto(`${BASE}/console/#/reclassifications`);
  await page.locator("#queue").waitFor();
  assert.equal(await page.getByRole("button", { name: "Accept" }).count(), 0, "no accept control for a viewer");
  step("viewer: no reclassify or resolve controls; the API refuses the write");

  // --- another tenant sees none of it ----------------------------------------------------
  await signOut(page);
  await signIn(page, T.other);
  await page.getByText(/No mail in the last 7 days/).waitFor();
  await shot(page, "activity-empty-desktop");
  await page.goto(`${BASE}/console/#/search?subject=PayPal`);
  await page.getByText(/No message matches/).waitFor();
  assert.doesNotMatch(await page.locator("main").innerText(), /PayPal|garlic|lunch/);
  step("another tenant's admin sees none of this tenant's mail");
  await page.context().close();

  // --- the narrow viewport ---------------------------------------------------------------
  const narrow = await newPage({ width: 390, height: 844 });
  await narrow.goto(`${BASE}/console/`);
  await narrow.getByRole("heading", { name: "Sign in" }).waitFor();
  await shot(narrow, "sign-in-narrow");
  await signIn(narrow, T.analyst);
  await narrow.locator("#activity-chart").waitFor();
  await shot(narrow, "activity-narrow");
  await narrow.goto(`${BASE}/console/#/search?subject=PayPal`);
  await narrow.locator("#results").waitFor();
  await shot(narrow, "investigation-narrow");
  await openBySubject(narrow, "PayPal limited");
  await shot(narrow, "message-phish-narrow");
  await narrow.goto(`${BASE}/console/#/reclassifications`);
  await narrow.locator("#queue").waitFor();
  await shot(narrow, "reclassifications-narrow");
  await narrow.goto(`${BASE}/console/#/policy`);
  await narrow.locator("#policy-history").waitFor();
  await shot(narrow, "policy-narrow");
  await axe(narrow, "policy (narrow)");
  step("narrow viewport screenshots");

}

try {
  await run();
} catch (e) {
  // What the browser showed when it failed: screenshots and the page's text.
  for (const [i, p] of pages.entries()) {
    if (p.isClosed()) continue;
    await p.screenshot({ path: path.join(SHOTS, `failure-${i}.png`), fullPage: true }).catch(() => {});
    console.log(`console: page ${i} at ${p.url()}:\n${await p.locator("body").innerText().catch(() => "?")}`);
  }
  console.error(e);
  await browser.close();
  process.exit(1);
}
await browser.close();
writeFileSync(path.join(SHOTS, "axe.json"), JSON.stringify(axeReport, null, 2));
console.log(`console: ${steps.length} steps passed; axe: ${axeReport.map((r) => `${r.view} ${r.violations.length} violations (${r.violations.map((v) => `${v.id}:${v.impact}`).join(" ") || "none"})`).join("; ")}`);
