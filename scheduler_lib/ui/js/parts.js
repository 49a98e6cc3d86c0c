// Pieces several views share: pagination, the run sparkline, lookups of schedules
// and header presets, and the bounded parallel loader.

import {api} from "./api.js";
import {formatDuration, h} from "./dom.js";

export const PAGE_SIZES = [25, 50, 100, 250];

/** limit/offset from the hash query, clamped to what the API accepts. */
export function pageOf(query, defaultLimit = 25) {
  const limit = Math.min(Math.max(Number(query.limit) || defaultLimit, 1), 1000);
  const offset = Math.max(Number(query.offset) || 0, 0);
  return {limit, offset};
}

/** "Showing 26–50 of 1,000" with previous/next links and a page-size chooser. */
export function pager({base, query, limit, offset, total, label}) {
  const link = (newOffset, newLimit = limit) => {
    const params = new URLSearchParams({...query, offset: String(newOffset), limit: String(newLimit)});
    return `#${base}?${params}`;
  };
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  const prev = offset > 0 ? h("a", {class: "btn secondary small", href: link(Math.max(offset - limit, 0)),
    rel: "prev"}, "← Previous") : h("span", {class: "btn secondary small", "aria-disabled": "true"}, "← Previous");
  const next = last < total ? h("a", {class: "btn secondary small", href: link(offset + limit), rel: "next"},
    "Next →") : h("span", {class: "btn secondary small", "aria-disabled": "true"}, "Next →");
  const size = h("select", {id: `page-size-${base.replace(/\W/g, "")}`,
    onchange: (event) => { window.location.hash = link(0, Number(event.target.value)); }},
  PAGE_SIZES.map((n) => h("option", {value: String(n), selected: n === limit}, String(n))));
  return h("nav", {class: "pager", "aria-label": `${label} pages`},
    h("p", {class: "count"}, `Showing ${first.toLocaleString()}–${last.toLocaleString()} of `
      + `${total.toLocaleString()} ${label.toLowerCase()}`),
    h("div", {class: "pager-buttons"}, prev, next,
      h("label", {for: size.id, class: "inline"}, "Per page"), size));
}

/** Every item of a list endpoint (pages of 1,000), e.g. all the caller's schedules. */
export async function listAll(path, query = {}) {
  const items = [];
  for (let offset = 0; ; offset += 1000) {
    const reply = await api("GET", path, {query: {...query, limit: 1000, offset}});
    items.push(...reply.data);
    if (reply.data.length < 1000 || (reply.total !== null && items.length >= reply.total)) break;
  }
  return items;
}

/** A map id → item of a list endpoint; an empty map when the caller may not list it. */
export async function mapOf(path, query = {}) {
  const items = await listAll(path, query);
  return new Map(items.map((item) => [item.id, item]));
}

/** Runs ``task`` over ``items`` with at most ``width`` at a time. */
export async function eachLimited(items, width, task) {
  let index = 0;
  const worker = async () => {
    while (index < items.length) {
      const item = items[index++];
      await task(item);
    }
  };
  await Promise.all(Array.from({length: Math.min(width, items.length)}, worker));
}

/** An SVG bar chart of recent runs (oldest left): height = duration, colour = outcome. */
export function sparkline(results) {
  const runs = [...results].reverse();
  const width = 100;
  const height = 24;
  if (!runs.length) return h("span", {class: "muted"}, "no runs yet");
  const durations = runs.map((r) => r.duration_ms || 0);
  const max = Math.max(...durations, 1);
  const bar = width / Math.max(runs.length, 10);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  const failures = runs.filter((r) => !r.success).length;
  const sorted = [...durations].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const summary = `Last ${runs.length} runs: ${runs.length - failures} succeeded, ${failures} failed, `
    + `median ${formatDuration(median)}`;
  svg.setAttribute("aria-label", summary);
  const title = document.createElementNS(ns, "title");
  title.textContent = summary;
  svg.append(title);
  runs.forEach((run, i) => {
    const rect = document.createElementNS(ns, "rect");
    const barHeight = Math.max(3, ((run.duration_ms || 0) / max) * (height - 2));
    rect.setAttribute("x", String(i * bar + 0.5));
    rect.setAttribute("y", String(height - barHeight));
    rect.setAttribute("width", String(Math.max(bar - 1, 1)));
    rect.setAttribute("height", String(barHeight));
    rect.setAttribute("class", run.success ? "ok" : "bad");
    svg.append(rect);
  });
  return svg;
}

/** Asks before something that cannot be undone. */
export function confirmed(text) {
  return window.confirm(text);
}
