"""The page's inline style and script (no CDN, no network): sortable headers, filter boxes, an error hook.

The error hook runs first, in <head>: every uncaught error or console.error is counted on <html data-js-errors>
and listed in #js-errors, so a headless browser that dumps the DOM can tell whether the page's script failed.
`#filter=TEXT` in the address pre-fills every filter box (a link to a filtered view, and a way to test the
filter without clicking). The script sets <body data-ready="1"> once it has wired everything up, and on the
load event data-loaded="1" with data-broken-images (how many plots did not decode).
"""

__all__ = ["PAGE_CSS", "PAGE_SCRIPT", "ERROR_HOOK"]

PAGE_CSS = """
:root { --ink: #1d2430; --muted: #5b6574; --line: #d8dde5; --band: #f4f6f9; --accent: #2457a6;
        --bad: #b42318; --good: #1f7a3a; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.45 system-ui, -apple-system, "Segoe UI",
       Roboto, "DejaVu Sans", sans-serif; }
header { padding: 20px 32px 8px; border-bottom: 1px solid var(--line); background: var(--band); }
h1 { margin: 0 0 4px; font-size: 24px; }
h2 { margin: 0 0 4px; font-size: 20px; border-bottom: 2px solid var(--accent); padding-bottom: 4px; }
h3 { margin: 22px 0 8px; font-size: 16px; }
.subtitle, .source, .note, .caption, .kind, .count { color: var(--muted); }
.source { margin: 2px 0 12px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.note { font-size: 13px; margin: 4px 0 8px; }
.caption { margin: 6px 0 4px; font-size: 14px; font-weight: 600; color: var(--ink); }
nav ol { margin: 8px 0; padding-left: 20px; columns: 2; }
.kind { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
main { padding: 8px 32px 40px; max-width: 1400px; }
.report-section { margin: 24px 0 40px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; align-items: start; }
img.plot { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.figures { display: flex; gap: 18px; flex-wrap: wrap; margin: 10px 0; }
.figure-row { display: flex; gap: 24px; flex-wrap: wrap; margin: 6px 0 14px; }
.figure { display: flex; flex-direction: column; min-width: 110px; }
.figure b { font-size: 22px; font-variant-numeric: tabular-nums; }
.figure span { color: var(--muted); font-size: 13px; }
.table-wrap { max-height: 520px; overflow: auto; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; font-size: 13px; }
table.data { width: 100%; }
table.data th { position: sticky; top: 0; background: #e9edf3; text-align: left; cursor: pointer;
                white-space: nowrap; user-select: none; }
table.data th[aria-sort=ascending]::after { content: " \\25B2"; }
table.data th[aria-sort=descending]::after { content: " \\25BC"; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td { white-space: pre-wrap; overflow-wrap: break-word; max-width: 520px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--band); }
table.kv th { text-align: left; color: var(--muted); font-weight: 500; white-space: nowrap; padding-right: 16px; }
table.kv td { max-width: 760px; }
.search { display: flex; gap: 12px; align-items: center; margin: 6px 0; }
.search input { padding: 5px 8px; width: 320px; border: 1px solid var(--line); border-radius: 4px; font: inherit; }
details { margin: 4px 0; border: 1px solid var(--line); border-radius: 4px; padding: 4px 10px; }
details summary { cursor: pointer; font-weight: 600; }
details ol { margin: 4px 0 8px; padding-left: 22px; font-size: 13px; }
.stimuli { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.scroll { max-height: 560px; overflow: auto; }
.label-undesirable { color: var(--bad); } .label-desirable { color: var(--accent); }
.error { color: var(--bad); font-weight: 600; }
#js-errors { color: var(--bad); margin: 12px 32px; }
"""

ERROR_HOOK = """
(function () {
  function record(message) {
    var root = document.documentElement;
    var n = Number(root.getAttribute("data-js-errors") || "0") + 1;
    root.setAttribute("data-js-errors", String(n));
    (window.__reportErrors = window.__reportErrors || []).push(String(message));
    var box = document.getElementById("js-errors");
    if (box) { var item = document.createElement("li"); item.textContent = String(message); box.appendChild(item);
               box.hidden = false; }
  }
  window.addEventListener("error", function (e) { record(e.message + " (line " + e.lineno + ")"); });
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + e.reason); });
  var original = console.error;
  console.error = function () {
    record(Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
})();
"""

PAGE_SCRIPT = """
(function () {
  "use strict";
  function cellKey(row, index) {
    var c = row.cells[index];
    if (!c) { return ""; }
    return c.hasAttribute("data-value") ? c.getAttribute("data-value") : c.textContent;
  }
  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var numeric = rows.every(function (r) { var v = cellKey(r, index).trim(); return v === "" || !isNaN(Number(v)); });
    rows.sort(function (a, b) {
      var x = cellKey(a, index), y = cellKey(b, index), order;
      if (numeric) { order = (x === "" ? -Infinity : Number(x)) - (y === "" ? -Infinity : Number(y)); }
      else { order = x.localeCompare(y); }
      return ascending ? order : -order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  function filterRows(input) {
    var table = document.getElementById(input.getAttribute("data-table"));
    if (!table) { return; }
    var query = input.value.trim().toLowerCase(), shown = 0, rows = table.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (r) {
      var hit = query === "" || r.textContent.toLowerCase().indexOf(query) >= 0;
      r.hidden = !hit;
      if (hit) { shown += 1; }
    });
    var count = document.getElementById(table.id + "-count");
    if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.addEventListener("click", function () { sortBy(table, index, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortBy(table, index, th); } });
    });
  });
  var inputs = document.querySelectorAll("input.table-search");
  inputs.forEach(function (input) { input.addEventListener("input", function () { filterRows(input); }); });
  var match = /(?:^#|&)filter=([^&]*)/.exec(window.location.hash);
  if (match) {
    var query = decodeURIComponent(match[1]);
    inputs.forEach(function (input) { input.value = query; filterRows(input); });
  }
  function finish() {
    var broken = Array.prototype.filter.call(document.images, function (img) {
      return !(img.complete && img.naturalWidth > 0);
    }).length;
    document.body.setAttribute("data-broken-images", String(broken));
    document.body.setAttribute("data-loaded", "1");
  }
  if (document.readyState === "complete") { finish(); } else { window.addEventListener("load", finish); }
  document.body.setAttribute("data-ready", "1");
})();
"""
