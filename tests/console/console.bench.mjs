// How fast the console's views are in the browser, against the views of
// `just bench-projector` (1,000,000 messages; run from tests/src/bin/bench_projector.rs).
// Each view is opened 12 times in a fresh page load (sign-in cookie kept) and 12 times by
// in-page navigation; the time is read with the Performance API: from the navigation's
// start (a load) or the route mark (in-page) to the `postern:ready` mark the page sets once
// the view has rendered its data. Prints a line per view and, last, JSON.
// Environment: CONSOLE_URL, TOKEN, CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";

const BASE = process.env.CONSOLE_URL;
const RUNS = 12;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const signIn = await page.request.post(`${BASE}/console/session`, { data: { token: process.env.TOKEN } });
if (!signIn.ok()) throw new Error(`sign-in failed: ${signIn.status()} ${await signIn.text()}`);

const now = Date.now();
const day = 86400000;
const iso = (t) => new Date(t).toISOString();
const views = {
  "activity (30 days)": "#/activity?days=30",
  "activity (7 days)": "#/activity?days=7",
  "search: SPAM, 30 days": `#/search?disposition=SPAM&from=${iso(now - 30 * day)}&to=${iso(now)}`,
  "search: subject word": "#/search?subject=invoice",
  "search: a sender domain": "#/search?domain=sender42.example",
};

async function readyAfter(since) {
  await page.waitForFunction(() => performance.getEntriesByName("postern:ready").length > 0, null, { timeout: 30000 });
  return page.evaluate((since) => {
    const ready = performance.getEntriesByName("postern:ready").at(-1).startTime;
    const start = since === "navigation" ? 0 : performance.getEntriesByName("postern:route").at(-1).startTime;
    return ready - start;
  }, since);
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const results = {};
for (const [name, hash] of Object.entries(views)) {
  const load = [];
  const inPage = [];
  for (let i = 0; i < RUNS; i++) {
    await page.goto("about:blank");
    await page.goto(`${BASE}/console/${hash}`, { waitUntil: "commit" });
    load.push(await readyAfter("navigation"));
  }
  for (let i = 0; i < RUNS; i++) {
    await page.goto("about:blank");
    await page.goto(`${BASE}/console/#/policy`);
    await page.waitForFunction(() => performance.getEntriesByName("postern:ready").length > 0);
    await page.evaluate(() => performance.clearMarks("postern:ready"));
    await page.evaluate((h) => { location.hash = h; }, hash);
    inPage.push(await readyAfter("route"));
  }
  const r = (x) => Math.round(x * 10) / 10;
  results[name] = { load_p50_ms: r(pct(load, 0.5)), load_max_ms: r(Math.max(...load)), in_page_p50_ms: r(pct(inPage, 0.5)), in_page_max_ms: r(Math.max(...inPage)) };
  console.log(`console ${name}: page load to rendered p50 ${results[name].load_p50_ms} ms (max ${results[name].load_max_ms}), in-page p50 ${results[name].in_page_p50_ms} ms (max ${results[name].in_page_max_ms})`);
}
await browser.close();
console.log(JSON.stringify(results));
