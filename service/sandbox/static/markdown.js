// A small, safe renderer for the GitHub-flavoured markdown of card details.
//
// Why our own: no CDN and no build step are allowed, and card text comes from a
// service under test, so everything is HTML-escaped first and only the constructs
// below become markup: headings, paragraphs, bold/italic/strike, code, links (http,
// https, mailto or relative only), bullet/numbered/task lists (nested by indent),
// block quotes, rules and pipe tables. Raw HTML is shown as text, never rendered.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Allowed link targets: absolute http(s), mailto, or a relative reference.
export function safeUrl(raw) {
  const url = String(raw).trim();
  if (/^(https?|mailto):/i.test(url)) return url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return null; // javascript:, data:, vbscript: ...
  if (url.startsWith("//")) return null; // protocol-relative: host unknown
  return url;
}

// Inline markup on raw text; returns HTML. Code spans and link targets are
// protected by placeholders so that later rules cannot rewrite them.
export function renderInline(text) {
  const slots = [];
  const keep = (html) => {
    slots.push(html);
    return `\u0000${slots.length - 1}\u0000`;
  };
  let s = String(text).replace(/\u0000/g, "");
  s = s.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_, __, code) =>
    keep(`<code>${escapeHtml(code.trim())}</code>`),
  );
  s = s.replace(/\\([\\`*_{}[\]()#+\-.!|~<>])/g, (_, ch) => keep(escapeHtml(ch)));
  s = s.replace(/\[([^\]\n]+)\]\(\s*<?([^)\s>]+)>?(?:\s+"([^"]*)")?\s*\)/g, (m, label, href, title) => {
    const url = safeUrl(href);
    const inner = renderEmphasis(escapeHtml(label));
    if (url === null) return keep(inner);
    const t = title ? ` title="${escapeHtml(title)}"` : "";
    return keep(`<a href="${escapeHtml(url)}"${t} target="_blank" rel="noopener noreferrer">${inner}</a>`);
  });
  s = s.replace(/<((?:https?|mailto):[^\s<>]+)>/gi, (_, href) =>
    keep(`<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${escapeHtml(href)}</a>`),
  );
  s = s.replace(/\b((?:https?):\/\/[^\s<>()]+[^\s<>().,;:!?'"])/gi, (_, href) =>
    keep(`<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${escapeHtml(href)}</a>`),
  );
  s = renderEmphasis(escapeHtml(s));
  s = s.replace(/ {2,}\n|\\\n/g, "<br>").replace(/\n/g, " ");
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => slots[Number(i)]);
}

function renderEmphasis(html) {
  return html
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/__(?=\S)([\s\S]*?\S)__/g, "<strong>$1</strong>")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>")
    .replace(/(^|[^*\w])\*(?=\S)([^*\n]*?\S)\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_(?=\S)([^_\n]*?\S)_(?![_\w])/g, "$1<em>$2</em>");
}

const RE_FENCE = /^\s{0,3}(```|~~~)/;
const RE_HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RE_RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const RE_LIST = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const RE_QUOTE = /^\s{0,3}>\s?(.*)$/;
const RE_TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  const cells = [];
  let cur = "";
  let inCode = false;
  for (let i = 0; i < row.length; i += 1) {
    const ch = row[i];
    if (ch === "\\" && row[i + 1] === "|") {
      cur += "|";
      i += 1;
    } else if (ch === "`") {
      inCode = !inCode;
      cur += ch;
    } else if (ch === "|" && !inCode) {
      cells.push(cur.trim());
      cur = "";
    } else {
      cur += ch;
    }
  }
  cells.push(cur.trim());
  return cells;
}

function renderTable(header, sep, rows) {
  const aligns = splitRow(sep).map((c) => {
    const left = c.startsWith(":");
    const right = c.endsWith(":");
    if (left && right) return "center";
    if (right) return "right";
    return left ? "left" : "";
  });
  const cell = (tag, text, i) => {
    const cls = aligns[i] ? ` class="align-${aligns[i]}"` : "";
    return `<${tag}${cls}>${renderInline(text)}</${tag}>`;
  };
  const heads = splitRow(header);
  const head = `<thead><tr>${heads.map((c, i) => cell("th", c, i)).join("")}</tr></thead>`;
  const body = rows
    .map((r) => {
      const cells = splitRow(r);
      return `<tr>${heads.map((_, i) => cell("td", cells[i] ?? "", i)).join("")}</tr>`;
    })
    .join("");
  return `<div class="md-table"><table>${head}<tbody>${body}</tbody></table></div>`;
}

// Lists: items with their indentation; deeper items nest under the previous item.
function renderList(items) {
  let html = "";
  let i = 0;
  const build = (indent) => {
    const ordered = /^\d/.test(items[i].marker);
    const start = ordered ? parseInt(items[i].marker, 10) : 1;
    let out = ordered ? (start !== 1 ? `<ol start="${start}">` : "<ol>") : "<ul>";
    while (i < items.length && items[i].indent >= indent) {
      if (items[i].indent > indent) {
        out = out.replace(/<\/li>$/, "") + build(items[i].indent) + "</li>";
        continue;
      }
      let text = items[i].text;
      let box = "";
      const task = /^\[([ xX])\]\s+(.*)$/.exec(text);
      if (task) {
        box = `<input type="checkbox" disabled${task[1] === " " ? "" : " checked"}> `;
        text = task[2];
      }
      out += `<li>${box}${renderInline(text)}</li>`;
      i += 1;
    }
    return out + (ordered ? "</ol>" : "</ul>");
  };
  while (i < items.length) html += build(items[i].indent);
  return html;
}

export function renderMarkdown(source) {
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let para = [];
  const flush = () => {
    if (para.length) out.push(`<p>${renderInline(para.join("\n"))}</p>`);
    para = [];
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      flush();
      i += 1;
      continue;
    }
    const fence = RE_FENCE.exec(line);
    if (fence) {
      flush();
      const code = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        code.push(lines[i]);
        i += 1;
      }
      i += 1;
      out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = RE_HEADING.exec(line);
    if (heading) {
      flush();
      const level = Math.min(heading[1].length + 2, 6); // card headings sit under h3
      out.push(`<h${level}>${renderInline(heading[2])}</h${level}>`);
      i += 1;
      continue;
    }
    if (RE_RULE.test(line) && !(para.length && /^\s*-+\s*$/.test(line))) {
      flush();
      out.push("<hr>");
      i += 1;
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && RE_TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      flush();
      const header = line;
      const sep = lines[i + 1];
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
        rows.push(lines[i]);
        i += 1;
      }
      out.push(renderTable(header, sep, rows));
      continue;
    }
    if (RE_QUOTE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && RE_QUOTE.test(lines[i])) {
        quoted.push(RE_QUOTE.exec(lines[i])[1]);
        i += 1;
      }
      out.push(`<blockquote>${renderMarkdown(quoted.join("\n"))}</blockquote>`);
      continue;
    }
    if (RE_LIST.test(line) && (!para.length || !/^\s/.test(line))) {
      flush();
      const items = [];
      while (i < lines.length) {
        const m = RE_LIST.exec(lines[i]);
        if (m) {
          items.push({ indent: m[1].replace(/\t/g, "    ").length, marker: m[2], text: m[3] });
        } else if (lines[i].trim() && /^\s+/.test(lines[i]) && items.length) {
          items[items.length - 1].text += `\n${lines[i].trim()}`; // continuation line
        } else {
          break;
        }
        i += 1;
      }
      out.push(renderList(items));
      continue;
    }
    para.push(line);
    i += 1;
  }
  flush();
  return out.join("\n");
}
