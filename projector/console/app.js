// Postern's console: a small page over the public /api/v1/ API and the session endpoints.
// No framework: each view builds its DOM from the API's JSON (text only, never HTML from
// data). Routes live in the URL's hash, so every view can be bookmarked and shared.

const DISPOSITIONS = ["MALICIOUS", "SUSPICIOUS", "SPOOF", "SPAM", "BULK", "NONE"];
const COLOURS = { MALICIOUS: "#a4161a", SUSPICIOUS: "#d9480f", SPOOF: "#e8a33d", SPAM: "#8a4b00", BULK: "#5a4a99", NONE: "#2f8f4e" };
const SEARCH_FIELDS = [
  ["alert_id", "Alert id"], ["message_id", "Message-ID"], ["postern_id", "Postern id"],
  ["sender", "Sender"], ["recipient", "Recipient"], ["domain", "Sender domain"], ["subject", "Subject words"],
];
const ROLES = ["viewer", "analyst", "admin"];
// Remediation actions, as the API names them (proto's RemediationAction).
const ACTIONS = ["quarantine", "move_to_junk", "move_to_trash", "soft_delete", "hard_delete", "restore"];
const DAY = 86400000;

let session = null; // {tenant, name, role, csrf, open}
// Bumped at each navigation: a view whose answer arrives after the user moved on drops it.
let navigation = 0;
const stale = (nav) => nav !== navigation;
const main = document.getElementById("main");

// --- small helpers --------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function may(role) {
  return session && ROLES.indexOf(session.role) >= ROLES.indexOf(role);
}

class ApiFailure extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiFailure(0, "unreachable", "The API is unreachable: is the projector running?");
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const payload = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const err = payload && payload.error ? payload.error : { code: String(response.status), message: String(payload) };
    throw new ApiFailure(response.status, err.code, err.message);
  }
  return payload;
}

function stateBox(text, error = false) {
  return el("p", { class: error ? "state error" : "state", role: error ? "alert" : "status", text });
}

function failureBox(e) {
  if (e.status === 401) {
    showSignIn("Your session has ended: sign in again.");
    return stateBox("Signed out.");
  }
  if (e.status === 403) return stateBox(`Not allowed: ${e.message}`, true);
  return stateBox(e.message || String(e), true);
}

function badge(disposition) {
  return disposition ? el("span", { class: `badge ${disposition}`, text: disposition }) : el("span", { class: "badge", text: "unscored" });
}

function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function hashRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "") };
}

function go(path, params) {
  const q = params ? new URLSearchParams([...params].filter(([, v]) => v !== "")).toString() : "";
  location.hash = `#/${path}${q ? "?" + q : ""}`;
}

function searchLink(params, text) {
  return el("a", { href: `#/search?${new URLSearchParams(params)}`, text });
}

// The Performance API marks a benchmark reads: `postern:route` when a view starts,
// `postern:ready` when it has rendered its data (tests/console/console.bench.mjs).
function viewReady(nav) {
  if (stale(nav)) return;
  performance.mark("postern:ready", { detail: { view: hashRoute().parts[0] || "" } });
}

function setView(title, ...children) {
  document.title = `${title} · Postern console`;
  main.replaceChildren(el("h1", { text: title }), ...children.filter((c) => c !== null && c !== undefined && c !== false));
  for (const a of document.querySelectorAll("nav a")) {
    a.toggleAttribute("aria-current", false);
    if (a.dataset.section === hashRoute().parts[0]) a.setAttribute("aria-current", "page");
  }
}

// --- sign-in ------------------------------------------------------------------------

function showSignIn(note) {
  session = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  const input = el("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true });
  const message = el("div", { "aria-live": "polite" }, note ? stateBox(note) : null);
  const form = el("form", { class: "signin", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      session = await api("POST", "/console/session", { token: input.value });
      input.value = "";
      signedIn();
    } catch (e) {
      message.replaceChildren(stateBox(e.status === 401 ? "That token is not known here." : e.message, true));
    }
  } },
  el("label", { for: "token" }, "API token", input),
  el("div", { class: "row" }, el("button", { type: "submit", text: "Sign in" })));
  document.title = "Sign in · Postern console";
  main.replaceChildren(el("h1", { text: "Sign in" }),
    el("p", { text: "Sign in with your tenant's API token. The token stays on the server; the browser keeps a session cookie." }),
    message, form);
  input.focus();
}

function signedIn() {
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-text").textContent = session.open
    ? `Open API (no tokens): tenant ${session.tenant}`
    : `${session.name} · ${session.role} · tenant ${session.tenant}`;
  document.getElementById("sign-out").hidden = !!session.open;
  if (!location.hash || location.hash === "#" || location.hash === "#/") go("activity");
  else route();
}

document.getElementById("sign-out").addEventListener("click", async () => {
  try { await api("DELETE", "/console/session"); } catch (e) { /* signed out anyway */ }
  location.hash = "";
  showSignIn("Signed out.");
});

// --- email activity -------------------------------------------------------------------

let chart = null;

async function activityView(params) {
  const days = ["7", "30", "90"].includes(params.get("days")) ? Number(params.get("days")) : 7;
  const now = Date.now();
  const from = new Date(now - (days - 1) * DAY).toISOString();
  const to = new Date(now).toISOString();
  const ranges = el("div", { class: "row", role: "group", "aria-label": "Range" },
    ...[7, 30, 90].map((d) => el("a", { class: d === days ? "button" : "button secondary", href: `#/activity?days=${d}`, "aria-current": d === days ? "true" : null, text: `${d} days` })));
  const nav = navigation;
  setView("Email activity", ranges, stateBox("Loading the report…"));
  let report;
  try {
    report = await api("GET", `/api/v1/reports/daily?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&top=10`);
  } catch (e) {
    if (stale(nav)) return;
    return setView("Email activity", ranges, failureBox(e));
  }
  if (stale(nav)) return;
  const totals = Object.fromEntries(DISPOSITIONS.map((d) => [d, 0]));
  const reclass = {};
  let messages = 0;
  for (const day of report.days) {
    messages += day.messages;
    for (const [d, n] of Object.entries(day.dispositions)) totals[d] = (totals[d] || 0) + n;
    for (const [s, n] of Object.entries(day.reclassifications)) reclass[s] = (reclass[s] || 0) + n;
  }
  const range = { from, to };
  const cards = el("div", { class: "cards" },
    el("div", { class: "card" }, el("span", { class: "n" }, searchLink(range, String(messages))), "messages"),
    ...DISPOSITIONS.map((d) => el("div", { class: "card" }, el("span", { class: "n" }, searchLink({ ...range, disposition: d }, String(totals[d] || 0))), badge(d))));
  const canvas = el("canvas", { id: "activity-chart", role: "img", "aria-label": `Messages per day by final disposition, last ${days} days` });
  const list = (title, rows, link, what) => el("section", {}, el("h2", { text: title }),
    rows.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: what }), el("th", { scope: "col", class: "num", text: title.startsWith("Reclass") ? "Submissions" : "Messages" }))),
      el("tbody", {}, ...rows.map(([k, n]) => el("tr", {}, el("td", {}, link(k)), el("td", { class: "num", text: String(n) })))))
      : el("p", { class: "state", text: "None in this range." }));
  const reclassRows = Object.entries(reclass);
  setView("Email activity", ranges,
    messages === 0 ? stateBox(`No mail in the last ${days} days yet. Point a journal rule at Postern's SMTP address to see it here.`) : null,
    cards,
    el("h2", { text: "Messages per day" }), el("div", { class: "chart" }, canvas),
    el("div", { class: "columns" },
      list("Top sender domains", report.top_sender_domains, (d) => searchLink({ ...range, domain: d }, d), "Domain"),
      list("Most targeted recipients", report.top_recipients, (r) => searchLink({ ...range, recipient: r }, r), "Recipient"),
      list("Reclassifications by status", reclassRows, (s) => el("a", { href: `#/reclassifications?status=${s.toLowerCase()}`, text: s }), "Status")));
  if (chart) chart.destroy();
  if (window.Chart) {
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: report.days.map((d) => d.date),
        datasets: DISPOSITIONS.map((d) => ({ label: d, backgroundColor: COLOURS[d], data: report.days.map((day) => day.dispositions[d] || 0) })),
      },
      options: {
        animation: false, maintainAspectRatio: false, responsive: true,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        onClick: (_, elements) => {
          if (!elements.length) return;
          const day = report.days[elements[0].index].date;
          go("search", new URLSearchParams({ disposition: DISPOSITIONS[elements[0].datasetIndex], from: `${day}T00:00:00Z`, to: `${day}T23:59:59Z` }));
        },
      },
    });
  }
  viewReady(nav);
}

// --- investigation --------------------------------------------------------------------

let lastResults = [];

function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toISOString().slice(0, 16);
}

async function searchView(params) {
  const inputs = {};
  const field = (name, label, control) => { inputs[name] = control; return el("label", { for: `f-${name}` }, label, control); };
  const form = el("form", { class: "grid", role: "search", "aria-label": "Search messages", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [name, control] of Object.entries(inputs)) {
      let v = control.value.trim();
      if ((name === "from" || name === "to") && v) v = new Date(v + "Z").toISOString();
      if (v) q.set(name, v);
    }
    go("search", q);
  } },
  ...SEARCH_FIELDS.map(([name, label]) => field(name, label, el("input", { id: `f-${name}`, name, value: params.get(name) || "" }))),
  field("disposition", "Final disposition", el("select", { id: "f-disposition", name: "disposition" },
    el("option", { value: "", text: "Any" }), ...DISPOSITIONS.map((d) => el("option", { value: d, text: d, selected: params.get("disposition") === d })))),
  field("action", "Action taken", el("select", { id: "f-action", name: "action" },
    el("option", { value: "", text: "Any" }), ...ACTIONS.map((a) => el("option", { value: a, text: a.replace(/_/g, " "), selected: params.get("action") === a })))),
  field("from", "From (UTC)", el("input", { id: "f-from", name: "from", type: "datetime-local", value: toLocalInput(params.get("from")) })),
  field("to", "To (UTC)", el("input", { id: "f-to", name: "to", type: "datetime-local", value: toLocalInput(params.get("to")) })),
  el("div", { class: "row" }, el("button", { type: "submit", text: "Search" }),
    el("a", { class: "button secondary", href: "#/search", text: "Clear" })));
  const results = el("div", { "aria-live": "polite" }, stateBox("Searching…"));
  const nav = navigation;
  setView("Investigation", form, results);
  const q = new URLSearchParams(params);
  if (!q.has("limit")) q.set("limit", "50");
  let page;
  try {
    page = await api("GET", `/api/v1/search?${q}`);
  } catch (e) {
    return stale(nav) ? undefined : results.replaceChildren(failureBox(e));
  }
  if (stale(nav)) return;
  lastResults = page.messages;
  if (!page.messages.length) {
    results.replaceChildren(stateBox(params.has("cursor") ? "No more messages." : "No message matches this search (the default range is the last 30 days)."));
    return viewReady(nav);
  }
  const table = el("table", { id: "results" },
    el("caption", { class: "sr-only", text: "Search results, newest first" }),
    el("thead", {}, el("tr", {}, ...["Time", "From", "To", "Subject", "Disposition", "Attributes"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...page.messages.map((m) => el("tr", {},
      el("td", { text: time(m.received_at) }),
      el("td", { text: m.from || "" }),
      el("td", { text: (m.to || []).join(", ") + (m.recipients > (m.to || []).length ? ` +${m.recipients - m.to.length}` : "") }),
      el("td", {}, el("a", { href: `#/message/${encodeURIComponent(m.postern_id)}`, text: m.subject || "(no subject)" })),
      el("td", {}, badge(m.disposition)),
      el("td", {}, ...(m.attributes || []).map((a) => el("span", { class: "tag", text: a })))))));
  const next = page.next_cursor ? (() => { const n = new URLSearchParams(params); n.set("cursor", page.next_cursor); return el("a", { class: "button secondary", href: `#/search?${n}`, text: "Next page" }); })() : null;
  const csv = el("button", { type: "button", class: "secondary", text: "Export CSV", onclick: () => exportCsv(lastResults) });
  results.replaceChildren(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Table, scrolls sideways on narrow screens" }, table), el("div", { class: "row" }, next, csv));
  viewReady(nav);
}

function exportCsv(rows) {
  // Quoted; a cell a spreadsheet would run as a formula (a subject written by an attacker:
  // `=HYPERLINK(...)`) starts with an apostrophe instead.
  const cell = (v) => {
    const text = String(v ?? "");
    return `"${(/^[=+\-@\t\r]/.test(text) ? "'" + text : text).replace(/"/g, '""')}"`;
  };
  const header = ["received_at", "postern_id", "message_id", "alert_id", "from", "to", "recipients", "subject", "disposition", "attributes", "actions"];
  const lines = [header.join(",")].concat(rows.map((m) => [m.received_at, m.postern_id, m.message_id, m.alert_id, m.from, (m.to || []).join(" "), m.recipients, m.subject, m.disposition, (m.attributes || []).join(" "), (m.actions || []).join(" ")].map(cell).join(",")));
  const url = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
  const a = el("a", { href: url, download: "postern-search.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// --- a message ------------------------------------------------------------------------

function headerBlock(raw) {
  const end = raw.search(/\r?\n\r?\n/);
  return (end < 0 ? raw : raw.slice(0, end)).replace(/\r\n/g, "\n");
}

function authLines(headers) {
  return headers.split(/\n(?=\S)/).filter((h) => /^(authentication-results|arc-authentication-results|received-spf|dkim-signature):/i.test(h))
    .map((h) => h.replace(/\n\s+/g, " ").slice(0, 600));
}

async function messageView(id, focusStatus) {
  const nav = navigation;
  setView("Message", stateBox("Loading the message…"));
  let t;
  try {
    t = await api("GET", `/api/v1/messages/${encodeURIComponent(id)}`);
  } catch (e) {
    if (stale(nav)) return;
    return setView("Message", e.status === 404 ? stateBox("No such message in this tenant.", true) : failureBox(e));
  }
  const facts = el("dl", { class: "facts" },
    ...[["Subject", t.subject], ["From", t.from], ["Envelope sender", t.envelope_sender], ["Recipients (journal)", (t.recipients || []).join(", ")],
      ["Received", time(t.received_at)], ["Copies", String(t.copies)], ["Message-ID", t.message_id], ["Postern id", t.postern_id], ["Alert id", t.alert_id]]
      .filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const verdict = el("div", { class: "row" }, "Final: ", badge(t.disposition), " Scored: ", badge(t.scored_disposition),
    ...(t.attributes || []).map((a) => el("span", { class: "tag", text: a })),
    ...(t.actions || []).map((a) => el("span", { class: "tag", text: `action: ${a}` })));
  const detections = t.detections.length
    ? el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Table, scrolls sideways on narrow screens" }, el("table", { id: "detections" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Detection" }), el("th", { scope: "col", class: "num", text: "Score" }), el("th", { scope: "col", text: "Evidence" }))),
      el("tbody", {}, ...t.detections.map((d) => el("tr", {}, el("td", { text: d.name }), el("td", { class: "num", text: d.score.toFixed(2) }), el("td", { text: d.evidence }))))))
    : stateBox(t.disposition ? "No detection fired." : "Not scored yet.");
  const timeline = el("ol", { class: "timeline", id: "timeline" }, ...t.events.map((e) => el("li", {}, el("strong", { text: e.event_type }), ` · ${time(e.at)}`, el("div", { text: e.summary }))));
  const reclass = t.reclassifications.length
    ? el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Table, scrolls sideways on narrow screens" }, el("table", { id: "message-reclassifications" },
      el("thead", {}, el("tr", {}, ...["Requested", "Type", "By", "Original", "Requested disposition", "Status", "Final"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...t.reclassifications.map((r) => el("tr", {}, el("td", { text: time(r.requested_at) }), el("td", { text: r.type }), el("td", { text: r.requested_by }),
        el("td", {}, badge(r.original)), el("td", {}, badge(r.requested)), el("td", { class: "status", text: r.status }), el("td", {}, r.final_disposition ? badge(r.final_disposition) : ""))))))
    : el("p", { text: "No reclassification yet." });
  // Postern's own checks record only failures (as detections); the receiving server's
  // Authentication-Results headers, read from the raw message, say the rest.
  const checks = [["SPF", ["spf_fail"]], ["DKIM", ["dkim_fail"]], ["DMARC", ["dmarc_fail", "dmarc_fail_enforced"]], ["ARC", ["arc_fail"]]];
  const ownChecks = el("dl", { class: "facts", id: "auth-checks" }, ...checks.flatMap(([what, names]) => {
    const failed = t.detections.filter((d) => names.includes(d.name));
    return [el("dt", { text: what }), el("dd", { text: failed.length ? `fail: ${failed.map((d) => d.evidence).join("; ")}` : "no failure found by Postern" })];
  }));
  const auth = el("div", {}, stateBox(may("analyst") ? "Reading the headers…" : "The message's headers and its receiving server's authentication results need the analyst role."));
  const parts = [verdict, facts,
    el("h2", { text: "Detections" }), detections,
    el("h2", { text: "Authentication results and headers" }), ownChecks, auth,
    el("h2", { text: "Trace" }), timeline,
    el("h2", { text: "Reclassifications" }), reclass];
  if (may("analyst")) {
    parts.push(el("div", { class: "row" }, el("a", { class: "button secondary", href: `/api/v1/messages/${encodeURIComponent(t.postern_id)}/raw`, download: `${t.postern_id}.eml`, text: "Download raw message" })));
    parts.push(reclassifyForm(t));
  }
  if (stale(nav)) return;
  setView(t.subject || "(no subject)", ...parts);
  if (focusStatus) document.getElementById("reclassify-status")?.focus();
  viewReady(nav);
  if (may("analyst")) {
    try {
      const raw = await api("GET", `/api/v1/messages/${encodeURIComponent(t.postern_id)}/raw`);
      const headers = headerBlock(typeof raw === "string" ? raw : JSON.stringify(raw));
      const lines = authLines(headers);
      auth.replaceChildren(lines.length ? el("ul", {}, ...lines.map((l) => el("li", { text: l }))) : el("p", { text: "The message carries no Authentication-Results header from its receiving server." }),
        el("details", {}, el("summary", { text: "All headers" }), el("pre", { text: headers })));
    } catch (e) {
      auth.replaceChildren(e.status === 404 ? stateBox("The raw message is no longer stored.") : failureBox(e));
    }
  }
}

function reclassifyForm(t) {
  const disposition = el("select", { id: "r-disposition", name: "disposition" }, ...DISPOSITIONS.filter((d) => d !== t.disposition).map((d) => el("option", { value: d, text: d })));
  const type = el("select", { id: "r-type", name: "type" }, el("option", { value: "team", text: "Security team (applied at once)" }), el("option", { value: "user", text: "User report (waits for an admin)" }));
  const comment = el("textarea", { id: "r-comment", name: "comment", rows: "2" });
  const status = el("div", { id: "reclassify-status", tabindex: "-1", "aria-live": "polite" });
  const form = el("form", { id: "reclassify", "aria-label": "Reclassify", onsubmit: async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const answer = await api("POST", "/api/v1/reclassifications", { postern_id: t.postern_id, disposition: disposition.value, type: type.value, comment: comment.value });
      status.replaceChildren(stateBox(`Submitted (${answer.submission_id}): ${answer.status || "recorded"}. The trace updates when it is folded.`));
      await waitForSubmission(t.postern_id, answer.submission_id, status);
    } catch (e) {
      status.replaceChildren(failureBox(e));
    } finally {
      button.disabled = false;
    }
  } },
  el("h2", { text: "Reclassify" }),
  el("div", { class: "grid" },
    el("label", { for: "r-disposition" }, "Requested disposition", disposition),
    el("label", { for: "r-type" }, "Type", type),
    el("label", { for: "r-comment" }, "Comment", comment)),
  el("div", { class: "row" }, el("button", { type: "submit", text: "Reclassify" })), status);
  return form;
}

async function waitForSubmission(postern_id, submission_id, status) {
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500));
    let t;
    try { t = await api("GET", `/api/v1/messages/${encodeURIComponent(postern_id)}`); } catch { continue; }
    const s = t.reclassifications.find((r) => r.submission_id === submission_id);
    if (s) {
      if (hashRoute().parts[1] === postern_id) await messageView(postern_id, true);
      document.getElementById("reclassify-status")?.replaceChildren(stateBox(`Reclassification ${s.submission_id}: ${s.status}${s.final_disposition ? `, final ${s.final_disposition}` : ""}.`));
      return;
    }
  }
  status.replaceChildren(stateBox("Submitted; it has not shown in the views yet (is the projector folding?).", true));
}

// --- reclassifications queue ----------------------------------------------------------

async function reclassificationsView(params) {
  const statusFilter = (params.get("status") || "").toLowerCase();
  const typeFilter = (params.get("type") || "").toLowerCase();
  const statusSelect = el("select", { id: "q-status", name: "status" }, ...["", "pending", "accepted", "rejected", "withdrawn"].map((s) => el("option", { value: s, text: s || "Any", selected: s === statusFilter })));
  const typeSelect = el("select", { id: "q-type", name: "type" }, ...["", "user", "team"].map((s) => el("option", { value: s, text: s || "Any", selected: s === typeFilter })));
  const filters = el("form", { class: "grid", "aria-label": "Filter reclassifications", onsubmit: (ev) => {
    ev.preventDefault();
    go("reclassifications", new URLSearchParams({ status: statusSelect.value, type: typeSelect.value }));
  } },
  el("label", { for: "q-status" }, "Status", statusSelect), el("label", { for: "q-type" }, "Type", typeSelect),
  el("div", { class: "row" }, el("button", { type: "submit", text: "Filter" })));
  const body = el("div", { "aria-live": "polite" }, stateBox("Loading the queue…"));
  const nav = navigation;
  setView("Reclassifications", filters, body);
  let list;
  try {
    list = await api("GET", `/api/v1/reclassifications?limit=500${statusFilter ? `&status=${statusFilter}` : ""}`);
  } catch (e) {
    return stale(nav) ? undefined : body.replaceChildren(failureBox(e));
  }
  if (stale(nav)) return;
  const rows = list.reclassifications.filter((r) => !typeFilter || r.type.toLowerCase() === typeFilter);
  if (!rows.length) return body.replaceChildren(stateBox("No reclassification matches."));
  body.replaceChildren(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Table, scrolls sideways on narrow screens" }, el("table", { id: "queue" },
    el("thead", {}, el("tr", {}, ...["Requested", "Message", "Type", "By", "Original", "Requested disposition", "Status", "Resolved by", "Comment", "Decision"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", { "data-submission": r.submission_id },
      el("td", { text: time(r.requested_at) }),
      el("td", {}, el("a", { href: `#/message/${encodeURIComponent(r.postern_id)}`, text: r.subject || r.postern_id })),
      el("td", { text: r.type }), el("td", { text: r.requested_by }),
      el("td", {}, badge(r.original)), el("td", {}, badge(r.requested)),
      el("td", { class: "status", text: r.status }), el("td", { text: r.resolved_by || "" }), el("td", { text: r.comment || "" }),
      el("td", {}, r.status === "PENDING" && may("admin") ? resolveControls(r) : null)))))));
}

function resolveControls(r) {
  const comment = el("input", { id: `c-${r.submission_id}`, "aria-label": `Comment on ${r.submission_id}`, placeholder: "Comment" });
  const result = el("span", { "aria-live": "polite" });
  const resolve = (outcome) => async () => {
    try {
      await api("POST", `/api/v1/reclassifications/${encodeURIComponent(r.submission_id)}/resolve`, { outcome, comment: comment.value });
      result.textContent = `${outcome}ed; refreshing…`;
      setTimeout(() => route(), 800);
    } catch (e) {
      result.replaceChildren(failureBox(e));
    }
  };
  return el("div", { class: "row" }, comment,
    el("button", { type: "button", onclick: resolve("accept"), text: "Accept" }),
    el("button", { type: "button", class: "secondary", onclick: resolve("reject"), text: "Reject" }), result);
}

// --- policy (read-only) ----------------------------------------------------------------

function settingValue(v) {
  if (Array.isArray(v)) {
    if (!v.length) return el("span", { text: "none" });
    return el("ul", {}, ...v.map((item) => el("li", { text: typeof item === "object" ? Object.entries(item).filter(([, x]) => x !== null && x !== "").map(([k, x]) => `${k}: ${typeof x === "object" ? JSON.stringify(x) : x}`).join(" · ") : String(item) })));
  }
  if (typeof v === "boolean") return el("span", { text: v ? "yes" : "no" });
  if (v && typeof v === "object") {
    const entries = Object.entries(v).filter(([, x]) => x !== null);
    return entries.length ? el("ul", {}, ...entries.map(([k, x]) => el("li", { text: `${k}: ${typeof x === "object" ? JSON.stringify(x) : x}` }))) : el("span", { text: "defaults" });
  }
  return el("span", { text: String(v) });
}

async function policyView() {
  const nav = navigation;
  const body = el("div", { "aria-live": "polite" }, stateBox("Loading the policy…"));
  setView("Policy", el("p", { text: "The tenant's scoring policy as stored, read-only here (an operator changes it with scorer policy set), and its change history." }), body);
  let answer;
  try {
    answer = await api("GET", "/api/v1/policy");
  } catch (e) {
    return stale(nav) ? undefined : body.replaceChildren(failureBox(e));
  }
  if (stale(nav)) return;
  const parts = [];
  if (!answer.stored) parts.push(stateBox("This projector serves views without NATS: only the policy's history can be shown here."));
  else if (!answer.policy) parts.push(stateBox("This tenant has no policy: the scorer's defaults apply."));
  else {
    parts.push(el("dl", { class: "facts", id: "policy" }, ...Object.entries(answer.policy).flatMap(([k, v]) => [el("dt", { text: k.replace(/_/g, " ") }), el("dd", {}, settingValue(v))])));
    parts.push(el("details", {}, el("summary", { text: "As stored (JSON)" }), el("pre", { text: JSON.stringify(answer.policy, null, 2) })));
  }
  parts.push(el("h2", { text: "Changes" }));
  parts.push(answer.history.length
    ? el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Table, scrolls sideways on narrow screens" }, el("table", { id: "policy-history" },
      el("thead", {}, el("tr", {}, ...["When", "By", "Revision", "Digest", "What changed"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...answer.history.map((h) => el("tr", {}, el("td", { text: time(h.at) }), el("td", { text: h.changed_by }), el("td", { class: "num", text: String(h.revision) }),
        el("td", { text: h.policy_digest.slice(0, 12) }), el("td", { text: h.summary }))))))
    : stateBox("No change recorded."));
  body.replaceChildren(...parts);
  viewReady(nav);
}

// --- routing --------------------------------------------------------------------------

async function route() {
  if (!session) return;
  navigation += 1;
  performance.mark("postern:route");
  const { parts, params } = hashRoute();
  switch (parts[0]) {
    case "search": return searchView(params);
    case "message": return parts[1] ? messageView(parts[1]) : go("search");
    case "reclassifications": return reclassificationsView(params);
    case "policy": return policyView();
    case "activity": return activityView(params);
    default: return go("activity");
  }
}

window.addEventListener("hashchange", route);

(async function start() {
  try {
    session = await api("GET", "/console/session");
    signedIn();
  } catch (e) {
    if (e.status === 401) showSignIn();
    else main.replaceChildren(failureBox(e));
  }
})();
