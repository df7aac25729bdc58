// Hand-written SVG time chart: daily MME as a step line (left axis), pain scores as
// points (right axis, 0–10) and the draft order's projected MME after today.
// Built as markup (every value is a number or escaped text), so no SVG namespace
// URL is needed: the HTML parser creates SVG elements inside an <svg> tag.

import { escapeHtml } from "./markdown.js";

const DAY = 86400000;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function parseDay(iso) {
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return Date.UTC(y, m - 1, d);
}

function niceMax(value) {
  if (value <= 0) return 10;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (step * exp >= value) return step * exp;
  }
  return 10 * exp;
}

const fmt = (n) => (Math.round(n * 10) / 10).toLocaleString("en-US");

/**
 * data: {asOf, mme: {start, steps: [{date, mmePerDay}], current}, pain: [{date, value}],
 *        draft: {projected, days} | null}
 */
export function chartSvg(data, width = 720, height = 230) {
  const m = { top: 14, right: 46, bottom: 28, left: 54 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const asOf = parseDay(data.asOf);
  const steps = (data.mme?.steps ?? []).map((s) => ({ t: parseDay(s.date), v: s.mmePerDay }));
  const pain = (data.pain ?? []).map((p) => ({ t: parseDay(p.date), v: p.value, date: p.date }));
  const draft = data.draft && typeof data.draft.projected === "number" ? data.draft : null;
  const start = data.mme?.start ? parseDay(data.mme.start) : Math.min(asOf - 180 * DAY, ...steps.map((s) => s.t));
  const ahead = Math.max(21, Math.min(draft?.days ?? 30, 60));
  const end = asOf + ahead * DAY;
  const maxMme = niceMax(Math.max(10, ...steps.map((s) => s.v), draft ? draft.projected : 0) * 1.08);
  const x = (t) => m.left + ((t - start) / (end - start)) * w;
  const yL = (v) => m.top + h - (v / maxMme) * h;
  const yR = (v) => m.top + h - (v / 10) * h;
  const r1 = (n) => Math.round(n * 10) / 10;
  const parts = [];

  // horizontal grid and left axis (MME)
  for (let k = 0; k <= 5; k += 1) {
    const v = (maxMme / 5) * k;
    const y = r1(yL(v));
    parts.push(`<line class="grid" x1="${m.left}" x2="${m.left + w}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick tick--left" x="${m.left - 6}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  // right axis (pain 0–10)
  for (let v = 0; v <= 10; v += 2) {
    const y = r1(yR(v));
    parts.push(`<text class="tick tick--right" x="${m.left + w + 6}" y="${y + 4}">${v}</text>`);
  }
  parts.push(`<text class="axis-label" transform="translate(14 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">MME per day</text>`);
  parts.push(`<text class="axis-label" transform="translate(${width - 8} ${m.top + h / 2}) rotate(90)" text-anchor="middle">Pain (0–10)</text>`);

  // month ticks
  const first = new Date(start);
  let month = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 1);
  const monthsShown = (end - start) / DAY / 30;
  const every = monthsShown > 14 ? 2 : 1;
  let idx = 0;
  while (month <= end) {
    const d = new Date(month);
    if (idx % every === 0) {
      const xx = r1(x(month));
      const label = d.getUTCMonth() === 0 ? `${MONTHS[0]} ${d.getUTCFullYear()}` : MONTHS[d.getUTCMonth()];
      parts.push(`<line class="mtick" x1="${xx}" x2="${xx}" y1="${m.top + h}" y2="${m.top + h + 4}"/>`);
      parts.push(`<text class="tick" x="${xx}" y="${m.top + h + 17}" text-anchor="middle">${label}</text>`);
    }
    idx += 1;
    month = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  parts.push(`<line class="axis" x1="${m.left}" x2="${m.left + w}" y1="${m.top + h}" y2="${m.top + h}"/>`);

  // projection zone after today
  const xToday = r1(x(asOf));
  parts.push(`<rect class="future" x="${xToday}" y="${m.top}" width="${r1(m.left + w - xToday)}" height="${h}"/>`);

  // MME step line (and a light area under it)
  if (steps.length) {
    const pts = steps.filter((s) => s.t <= asOf).sort((a, b) => a.t - b.t);
    let d = `M${r1(x(Math.max(pts[0].t, start)))} ${r1(yL(pts[0].v))}`;
    for (let k = 1; k < pts.length; k += 1) {
      d += ` H${r1(x(pts[k].t))} V${r1(yL(pts[k].v))}`;
    }
    d += ` H${r1(x(asOf + DAY))}`;
    const area = `${d} V${r1(yL(0))} H${r1(x(Math.max(pts[0].t, start)))} Z`;
    parts.push(`<path class="mme-area" d="${area}"/>`);
    parts.push(`<path class="mme-line" d="${d}"><title>MME per day</title></path>`);
    const last = pts[pts.length - 1];
    parts.push(
      `<text class="value-label value-label--mme" x="${r1(x(asOf)) - 4}" y="${r1(yL(last.v)) - 6}" text-anchor="end">${fmt(last.v)} MME/d</text>`,
    );
  }

  // today
  parts.push(`<line class="today" x1="${xToday}" x2="${xToday}" y1="${m.top}" y2="${m.top + h}"/>`);
  parts.push(`<text class="tick tick--today" x="${xToday - 4}" y="${m.top + 10}" text-anchor="end">Today</text>`);

  // draft projection
  if (draft) {
    const current = data.mme?.current ?? 0;
    const yd = r1(yL(draft.projected));
    const xEnd = r1(x(asOf + Math.min(draft.days ?? 30, ahead) * DAY));
    parts.push(`<line class="draft-link" x1="${xToday}" x2="${xToday}" y1="${r1(yL(current))}" y2="${yd}"/>`);
    parts.push(`<line class="draft-line" x1="${xToday}" x2="${xEnd}" y1="${yd}" y2="${yd}"><title>Draft order: ${fmt(draft.projected)} MME/day projected</title></line>`);
    parts.push(`<circle class="draft-dot" cx="${xToday}" cy="${yd}" r="4.5"/>`);
    const below = yd - 7 < m.top + 12; // no room above the line: write under it
    parts.push(
      `<text class="value-label value-label--draft" x="${xEnd}" y="${below ? yd + 15 : yd - 7}" text-anchor="end">Draft ${fmt(draft.projected)}</text>`,
    );
  }

  // pain: thin connecting line and points
  const shown = pain.filter((p) => p.t >= start && p.t <= end).sort((a, b) => a.t - b.t);
  if (shown.length > 1) {
    const d = shown.map((p, k) => `${k ? "L" : "M"}${r1(x(p.t))} ${r1(yR(p.v))}`).join(" ");
    parts.push(`<path class="pain-line" d="${d}"/>`);
  }
  for (const p of shown) {
    parts.push(
      `<circle class="pain-dot" cx="${r1(x(p.t))}" cy="${r1(yR(p.v))}" r="4"><title>${escapeHtml(p.date)}: pain ${fmt(p.v)}/10</title></circle>`,
    );
  }

  const desc = `Daily MME from ${new Date(start).toISOString().slice(0, 10)} to ${data.asOf}: now ${fmt(data.mme?.current ?? 0)} MME per day` +
    (draft ? `, ${fmt(draft.projected)} with the draft order` : "") +
    `. ${shown.length} pain scores` + (shown.length ? `, latest ${fmt(shown[shown.length - 1].v)} of 10.` : ".");
  return (
    `<svg class="chart-svg" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">` +
    `<title id="chart-title">Daily MME and pain scores</title><desc id="chart-desc">${escapeHtml(desc)}</desc>` +
    parts.join("") +
    `</svg>`
  );
}

export function renderChart(container, data) {
  const width = Math.max(520, Math.round(container.clientWidth || 720));
  container.innerHTML = chartSvg(data, width, 230);
}
