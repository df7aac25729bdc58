// The sandbox page: pick a scenario, edit a draft, fire a hook like an EHR would,
// render the cards, send real feedback and show the exact JSON exchanged.
//
// The request body comes from the sandbox API (/sandbox/api/request); everything
// after that goes to the real CDS Hooks endpoints found through discovery.

import { renderMarkdown } from "./markdown.js";
import { renderChart } from "./chart.js";

const $ = (id) => document.getElementById(id);
const SEVERITY = { critical: 0, warning: 1, info: 2 };
const INDICATOR_LABEL = { critical: "Critical", warning: "Warning", info: "Info" };

const state = {
  scenarios: [],
  drugs: [],
  frequencies: [],
  services: {}, // hook -> service id (from discovery)
  preview: null,
  serviceId: null,
  feedbackLog: [],
  previewTimer: null,
  previewSeq: 0,
};

// ------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const pretty = (value) => JSON.stringify(value, null, 2);
const fmt = (n, digits = 1) =>
  typeof n === "number" && Number.isFinite(n) ? (Math.round(n * 10 ** digits) / 10 ** digits).toLocaleString("en-US") : "—";

async function api(method, url, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const started = performance.now();
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    return { ok: false, status: 0, body: null, text: String(err), ms: performance.now() - started };
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { ok: response.ok, status: response.status, body: parsed, text, ms: performance.now() - started };
}

// An OperationOutcome (or any error body) as readable lines.
function outcomeLines(result) {
  const body = result.body;
  if (body && body.resourceType === "OperationOutcome" && Array.isArray(body.issue)) {
    return body.issue.map((issue) => {
      const where = issue.expression?.length ? ` (at ${issue.expression.join(", ")})` : "";
      return `${issue.severity ?? "error"} · ${issue.code ?? "?"}: ${issue.diagnostics ?? issue.details?.text ?? "no diagnostics"}${where}`;
    });
  }
  if (result.status === 0) return [`The service could not be reached: ${result.text}`];
  return [result.text ? result.text.slice(0, 500) : "No response body."];
}

function showError(title, result) {
  const box = $("error");
  box.replaceChildren(
    el("p", { class: "alert__title" }, title),
    el("ul", { class: "alert__issues" }, outcomeLines(result).map((line) => el("li", {}, line))),
  );
  if (result.status === 401) {
    box.append(
      el("p", { class: "alert__hint" },
        "This service requires a signed JWT (OIH_AUTH_MODE=required). The sandbox page sends none: run the service with `make run`, or use `oih-cds fire --key … --kid … --iss …`."),
    );
  }
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", { class: "sr-only" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const old = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => {
    button.textContent = old;
  }, 1200);
}

// ------------------------------------------------------------------ discovery

async function discover() {
  const result = await api("GET", "/cds-services");
  const status = $("discovery-status");
  if (!result.ok || !Array.isArray(result.body?.services)) {
    status.textContent = `Discovery failed (HTTP ${result.status})`;
    status.classList.add("is-bad");
    showError(`GET /cds-services failed with HTTP ${result.status}`, result);
    return;
  }
  state.services = {};
  for (const service of result.body.services) {
    if (!state.services[service.hook]) state.services[service.hook] = service.id;
  }
  const hooks = Object.keys(state.services);
  status.textContent = `${result.body.services.length} services discovered: ${hooks.join(", ")}`;
  for (const button of document.querySelectorAll("[data-hook]")) {
    if (!state.services[button.dataset.hook]) {
      button.disabled = true;
      button.title = "No service for this hook in discovery";
    }
  }
}

// ------------------------------------------------------------------ scenario + draft

function groupOf(scenario) {
  const tags = scenario.tags || [];
  if (scenario.name.startsWith("exclusion-")) return "Exclusions";
  if (scenario.hasDraft) return "Order hooks (with a draft)";
  if (tags.some((t) => t.startsWith("card-") || t === "tolerance" || t === "ltot")) return "Core patterns";
  return "Risk modifiers and data quality";
}

function fillScenarios() {
  const select = $("scenario");
  const groups = new Map();
  for (const s of state.scenarios) {
    const g = groupOf(s);
    if (!groups.has(g)) groups.set(g, el("optgroup", { label: g }));
    groups.get(g).append(el("option", { value: s.name, text: `${s.title} (${s.name})` }));
  }
  select.replaceChildren(...groups.values());
  const wanted = new URLSearchParams(location.search).get("scenario");
  const initial = state.scenarios.find((s) => s.name === wanted) ?? state.scenarios.find((s) => s.name === "classic-oih") ?? state.scenarios[0];
  if (initial) select.value = initial.name;
}

function fillDrugs() {
  const select = $("drug");
  const groups = new Map();
  for (const d of state.drugs) {
    if (!groups.has(d.ingredient)) groups.set(d.ingredient, el("optgroup", { label: d.ingredient }));
    groups.get(d.ingredient).append(el("option", { value: d.key, text: d.display }));
  }
  select.replaceChildren(...groups.values());
  $("freq").replaceChildren(...state.frequencies.map((f) => el("option", { value: f.code, text: f.label })));
}

const UNIT_LABEL = { tab: "tablet(s)", cap: "capsule(s)", patch: "patch(es)", film: "film(s)", spray: "spray(s)", mL: "mL", mg: "mg", mcg: "mcg" };

function syncDoseUnits(preferred) {
  const drug = state.drugs.find((d) => d.key === $("drug").value);
  const units = drug ? drug.doseUnits : ["tab"];
  const unitSelect = $("dose-unit");
  const current = preferred ?? unitSelect.value;
  unitSelect.replaceChildren(...units.map((u) => el("option", { value: u, text: UNIT_LABEL[u] ?? u })));
  unitSelect.value = units.includes(current) ? current : units[0];
  $("drug-rxcui").textContent = drug ? `RxNorm ${drug.rxcui} · ${drug.strength} per ${drug.unit} · ${drug.route}` : "";
}

function setDraft(draft) {
  if (!draft) return;
  const known = state.drugs.some((d) => d.key === draft.drug);
  if (!known) return; // e.g. a non-opioid draft: keep the editor's current drug
  $("drug").value = draft.drug;
  const [value, unit] = (draft.dose ?? "1 tab").split(/\s+/);
  syncDoseUnits(unit);
  $("dose").value = value;
  if ([...$("freq").options].some((o) => o.value === draft.freq)) $("freq").value = draft.freq;
  $("days").value = draft.days ?? 30;
  $("prn").checked = Boolean(draft.prn);
}

function currentDraft() {
  if (!$("draft-on").checked) return null;
  return {
    drug: $("drug").value,
    dose: `${$("dose").value || "1"} ${$("dose-unit").value}`,
    freq: $("freq").value,
    days: Number($("days").value) || 30,
    prn: $("prn").checked,
  };
}

function syncDraftEnabled() {
  $("draft-fields").disabled = !$("draft-on").checked;
}

function renderBanner(preview) {
  const p = preview.patient;
  const s = preview.scenario;
  $("pt-name").textContent = p.name || p.id;
  const sex = p.sex ? p.sex[0].toUpperCase() + p.sex.slice(1) : "";
  $("pt-facts").replaceChildren(
    el("span", {}, `${p.age} y`),
    el("span", {}, sex),
    el("span", {}, `DOB ${p.birthDate ?? "—"}`),
    el("span", {}, `MRN ${p.mrn ?? "—"}`),
    el("span", {}, `As of ${preview.asOf}`),
  );
  $("pt-title").textContent = s.title;
  $("pt-story").textContent = s.story;
  $("scenario-story").textContent = s.notes ? `${s.story}. ${s.notes}` : s.story;
  const fires = Object.entries(s.expect || {}).filter(([, v]) => v === "fires").map(([k]) => k);
  $("pt-expect").replaceChildren(
    el("span", { class: "expect__label" }, `Expected on ${s.hook}:`),
    ...(fires.length ? fires.map((t) => el("span", { class: "chip" }, t)) : [el("span", { class: "chip chip--quiet" }, "no card")]),
  );
}

function renderChartTables(preview) {
  const mmeRows = (preview.mme.steps || []).map((s) => el("tr", {}, el("td", {}, s.date), el("td", { class: "num" }, fmt(s.mmePerDay))));
  const painRows = (preview.pain || []).map((p) => el("tr", {}, el("td", {}, p.date), el("td", { class: "num" }, fmt(p.value)), el("td", {}, p.instrument ?? "")));
  $("chart-tables").replaceChildren(
    el("table", { class: "data" },
      el("caption", {}, "MME per day (from the date shown)"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "From"), el("th", { scope: "col", class: "num" }, "MME/day"))),
      el("tbody", {}, mmeRows)),
    el("table", { class: "data" },
      el("caption", {}, "Pain scores"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Date"), el("th", { scope: "col", class: "num" }, "Score"), el("th", { scope: "col" }, "Instrument"))),
      el("tbody", {}, painRows)),
  );
}

function renderProjection(preview) {
  const box = $("projection");
  if (!preview.draft) {
    box.textContent = `Current total: ${fmt(preview.mme.current)} MME/day.`;
    return;
  }
  const delta = preview.draft.projected - preview.mme.current;
  const sign = delta > 0 ? "+" : "";
  box.replaceChildren(
    "With this draft: ",
    el("strong", {}, `${fmt(preview.draft.projected)} MME/day`),
    ` (now ${fmt(preview.mme.current)}, ${sign}${fmt(delta)}).`,
  );
}

function drawChart() {
  if (!state.preview) return;
  renderChart($("chart"), state.preview);
}

async function loadPreview() {
  const name = $("scenario").value;
  const seq = (state.previewSeq += 1);
  const result = await api("POST", "/sandbox/api/preview", { scenario: name, draft: currentDraft() });
  if (seq !== state.previewSeq) return; // a newer edit is on its way
  if (!result.ok) {
    showError(`Preview failed (HTTP ${result.status})`, result);
    return;
  }
  clearError();
  state.preview = result.body;
  renderBanner(result.body);
  renderProjection(result.body);
  renderChartTables(result.body);
  $("chart-source").textContent = "Computed with the service's MME engine from the scenario's record.";
  drawChart();
}

function schedulePreview() {
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(loadPreview, 200);
}

async function onScenarioChange() {
  const scenario = state.scenarios.find((s) => s.name === $("scenario").value);
  const first = await api("POST", "/sandbox/api/preview", { scenario: $("scenario").value, draft: null });
  if (first.ok) {
    const s = first.body.scenario;
    setDraft(s.scenarioDraft ?? s.suggestedDraft);
    $("draft-on").checked = Boolean(scenario?.hasDraft);
    syncDraftEnabled();
  }
  resetResults();
  const url = new URL(location.href);
  url.searchParams.set("scenario", $("scenario").value);
  history.replaceState(null, "", url);
  await loadPreview();
}

// ------------------------------------------------------------------ firing hooks

function resetResults() {
  $("snoozed").hidden = true;
  $("cards").replaceChildren();
  $("cards-empty").hidden = false;
  $("cards-empty").textContent = "Fire a hook to see the service's cards here.";
  $("call-status").textContent = "";
  clearError();
}

function setJson(id, label, value) {
  $(id).textContent = value === undefined ? "" : typeof value === "string" ? value : pretty(value);
  $(id.replace("-json", "-label")).textContent = label;
}

async function fire(hook) {
  clearError();
  const serviceId = state.services[hook];
  if (!serviceId) {
    showError(`No service for ${hook}`, { status: 0, body: null, text: "Discovery listed no service for this hook." });
    return;
  }
  const draft = currentDraft();
  if (hook === "order-select" && !draft) {
    showError("order-select needs a draft order", { status: 400, body: null, text: "Tick “Include a draft order” first: order-select names the selected draft." });
    return;
  }
  const buttons = document.querySelectorAll("[data-hook]");
  buttons.forEach((b) => b.setAttribute("aria-busy", b.dataset.hook === hook ? "true" : "false"));
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const spec = { scenario: $("scenario").value, hook, prefetch: $("send-prefetch").checked };
    if (hook !== "patient-view") {
      if (draft) spec.draft = draft;
      else spec.withoutDraft = true;
    }
    const built = await api("POST", "/sandbox/api/request", spec);
    if (!built.ok) {
      showError(`Could not build the request (HTTP ${built.status})`, built);
      return;
    }
    const body = built.body;
    const url = `/cds-services/${encodeURIComponent(serviceId)}`;
    state.serviceId = serviceId;
    setJson("request-json", `POST ${url}`, body);
    $("call-status").textContent = `Calling ${hook}…`;
    const result = await api("POST", url, body);
    setJson("response-json", `HTTP ${result.status} · ${Math.round(result.ms)} ms`, result.body ?? result.text);
    if (!result.ok) {
      $("cards").replaceChildren();
      $("cards-empty").hidden = true;
      $("call-status").textContent = `${hook}: HTTP ${result.status}`;
      showError(`POST ${url} answered HTTP ${result.status}`, result);
    } else {
      renderCards(result.body);
      const n = result.body.cards?.length ?? 0;
      $("call-status").textContent = `${hook} → ${serviceId}: HTTP ${result.status} in ${Math.round(result.ms)} ms, ${n} card${n === 1 ? "" : "s"}`;
    }
    const explained = await api("POST", `${url}/explain`, body);
    setJson("explain-json", `POST ${url}/explain · HTTP ${explained.status} · ${Math.round(explained.ms)} ms`, explained.body ?? explained.text);
    renderEvaluation(explained);
    renderSnoozed(explained, hook);
  } finally {
    buttons.forEach((b) => {
      b.removeAttribute("aria-busy");
      b.disabled = !state.services[b.dataset.hook];
    });
  }
}

// ------------------------------------------------------------------ cards

function renderCards(response) {
  const cards = [...(response.cards ?? [])].sort(
    (a, b) => (SEVERITY[a.indicator] ?? 3) - (SEVERITY[b.indicator] ?? 3),
  );
  $("cards").replaceChildren(...cards.map(renderCard));
  $("cards-empty").hidden = cards.length > 0;
  $("cards-empty").textContent = "The service returned no cards for this call.";
  const actions = response.systemActions ?? [];
  if (actions.length) {
    $("cards").append(
      el("li", { class: "system-actions" },
        el("p", { class: "card__section" }, "System actions"),
        el("ul", {}, actions.map((a) => el("li", {}, `${a.type}: ${a.description ?? ""}`)))),
    );
  }
}

function renderCard(card) {
  const indicator = ["info", "warning", "critical"].includes(card.indicator) ? card.indicator : "info";
  const status = el("p", { class: "card__status", role: "status" });
  const topic = card.source?.topic;
  const item = el("li", { class: `card card--${indicator}`, "data-uuid": card.uuid ?? "", "data-topic": topic?.code ?? "" });
  const bodyParts = [
    el("div", { class: "card__head" },
      el("span", { class: `indicator indicator--${indicator}` }, INDICATOR_LABEL[indicator]),
      el("h3", { class: "card__summary" }, card.summary ?? "(no summary)")),
    el("p", { class: "card__source" },
      `Source: ${card.source?.label ?? "—"}`,
      topic ? ` · ${topic.display ?? topic.code} (${topic.code})` : ""),
  ];
  if (card.detail) {
    const detail = el("div", { class: "card__detail md" });
    detail.innerHTML = renderMarkdown(card.detail); // escaped by the renderer
    bodyParts.push(detail);
  }
  if (card.suggestions?.length) {
    const list = el("div", { class: "card__suggestions", role: "group", "aria-label": "Suggestions" });
    for (const suggestion of card.suggestions) {
      const label = suggestion.isRecommended ? `${suggestion.label} (recommended)` : suggestion.label;
      list.append(
        el("button", {
          type: "button",
          class: `btn btn--suggestion${suggestion.isRecommended ? " is-recommended" : ""}`,
          onclick: (event) => acceptSuggestion(card, suggestion, item, status, event.currentTarget),
        }, label),
      );
    }
    bodyParts.push(el("p", { class: "card__section" }, "Suggestions"), list);
  }
  if (card.links?.length) {
    bodyParts.push(
      el("ul", { class: "card__links" },
        card.links.map((link) =>
          link.type === "smart"
            ? el("li", {}, el("span", { class: "link-disabled", title: "SMART apps need a SMART launch, which the sandbox does not do" }, `${link.label} (SMART app)`))
            : el("li", {}, el("a", { href: link.url, target: "_blank", rel: "noopener noreferrer" }, link.label)),
        )),
    );
  }
  if (card.uuid) {
    bodyParts.push(dismissControls(card, item, status));
  } else {
    bodyParts.push(el("p", { class: "hint" }, "This card has no uuid, so it cannot be dismissed with feedback."));
  }
  bodyParts.push(status);
  item.append(el("div", { class: "card__bar", "aria-hidden": "true" }), el("div", { class: "card__body" }, bodyParts));
  return item;
}

function dismissControls(card, item, status) {
  const reasons = card.overrideReasons ?? [];
  const selectId = `reason-${card.uuid}`;
  const commentId = `comment-${card.uuid}`;
  const select = el("select", { id: selectId, class: "reason" },
    el("option", { value: "" }, reasons.length ? "Choose a reason…" : "No reason offered"),
    reasons.map((r, i) => el("option", { value: String(i) }, r.display ?? r.code)),
  );
  const comment = el("input", { id: commentId, type: "text", maxlength: "500", autocomplete: "off" });
  const form = el("div", { class: "dismiss", hidden: true },
    el("label", { for: selectId, class: "field-label" }, "Override reason"),
    select,
    el("label", { for: commentId, class: "field-label" }, "Comment (optional)"),
    comment,
    el("div", { class: "dismiss__buttons" },
      el("button", {
        type: "button",
        class: "btn btn--primary btn--small confirm-dismiss",
        onclick: () => {
          const chosen = select.value === "" ? null : reasons[Number(select.value)];
          dismiss(card, chosen, comment.value.trim(), item, status);
        },
      }, "Dismiss card"),
      el("button", { type: "button", class: "btn btn--small", onclick: () => { form.hidden = true; toggle.hidden = false; toggle.focus(); } }, "Cancel"),
    ),
  );
  const toggle = el("button", {
    type: "button",
    class: "btn btn--small dismiss-toggle",
    "aria-expanded": "false",
    onclick: () => {
      form.hidden = false;
      toggle.hidden = true;
      select.focus();
    },
  }, "Dismiss…");
  return el("div", { class: "card__actions" }, toggle, form);
}

async function sendFeedback(item, status, feedback, describe) {
  const url = `/cds-services/${encodeURIComponent(state.serviceId)}/feedback`;
  const body = { feedback: [feedback] };
  status.className = "card__status";
  status.textContent = "Sending feedback…";
  const result = await api("POST", url, body);
  state.feedbackLog.push({ request: { method: "POST", url, body }, response: { status: result.status, body: result.body ?? result.text } });
  setJson("feedback-json", `${state.feedbackLog.length} feedback call(s); latest HTTP ${result.status}`, state.feedbackLog);
  if (result.ok) {
    status.classList.add("is-ok");
    status.textContent = `${describe} Feedback recorded (HTTP ${result.status}).`;
    return true;
  }
  status.classList.add("is-bad");
  status.textContent = `Feedback failed: HTTP ${result.status}. ${outcomeLines(result).join(" ")}`;
  return false;
}

async function dismiss(card, reason, comment, item, status) {
  const feedback = { card: card.uuid, outcome: "overridden", outcomeTimestamp: new Date().toISOString() };
  if (reason || comment) {
    feedback.overrideReason = {};
    if (reason) feedback.overrideReason.reason = { code: reason.code, system: reason.system, display: reason.display };
    if (comment) feedback.overrideReason.userComment = comment;
  }
  const described = reason ? `Dismissed: “${reason.display ?? reason.code}”.` : "Dismissed.";
  if (await sendFeedback(item, status, feedback, described)) {
    item.classList.add("is-dismissed");
    item.querySelector(".card__actions")?.remove();
  }
}

async function acceptSuggestion(card, suggestion, item, status, button) {
  const actions = (suggestion.actions ?? []).map((a) => `${a.type}: ${a.description ?? ""}`).join("; ");
  if (!card.uuid || !suggestion.uuid) {
    status.className = "card__status";
    status.textContent = `Accepted “${suggestion.label}” (no uuid, so no feedback can be sent). ${actions}`;
    return;
  }
  const feedback = {
    card: card.uuid,
    outcome: "accepted",
    acceptedSuggestions: [{ id: suggestion.uuid }],
    outcomeTimestamp: new Date().toISOString(),
  };
  if (await sendFeedback(item, status, feedback, `Accepted “${suggestion.label}”${actions ? ` (${actions})` : ""}.`)) {
    item.classList.add("is-accepted");
    button.setAttribute("aria-pressed", "true");
  }
}

// A snooze (accepting "Document: OIH evaluated, not suspected") hides the OIH card for this
// scenario patient, as in production; say so, and offer to forget it and fire again.
function renderSnoozed(explained, hook) {
  const box = $("snoozed");
  const snoozed = explained.ok ? explained.body?.evaluation?.snoozed ?? [] : [];
  if (!snoozed.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const lines = snoozed.map((s) => `the ${s.topic} card is snoozed until ${s.until}`);
  const status = el("p", { class: "hint", role: "status" });
  const button = el("button", { type: "button", class: "btn btn--small", id: "clear-snooze" }, "Clear snooze and fire again");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const result = await api("POST", "/sandbox/api/snoozes/clear", { scenario: $("scenario").value });
    if (!result.ok) {
      button.disabled = false;
      status.textContent = `Could not clear the snooze (HTTP ${result.status}).`;
      return;
    }
    if (!result.body?.cleared) {
      button.disabled = false;
      status.textContent = result.body?.snoozing === false
        ? "Snoozing is off in this service: there is nothing to clear."
        : "No snooze found for this scenario patient. With several workers, another may still hold it for a few seconds (OIH_SNOOZE_REFRESH_SECONDS).";
      return;
    }
    await fire(hook);
  });
  box.replaceChildren(
    el("p", {}, `For this patient ${lines.join("; ")}: a clinician accepted “Document: OIH evaluated, not suspected”. `
      + "Cards that follow it (rotation) stay silent too. In production it stays hidden until then, unless support clears it (oih-cds clear-snoozes)."),
    button, status);
  box.hidden = false;
}

// ------------------------------------------------------------------ evaluation

function table(caption, headers, rows, numeric = []) {
  return el("table", { class: "data" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => (c instanceof Node ? el("td", {}, c) : el("td", { class: numeric.includes(i) ? "num" : null }, c ?? "—")))))),
  );
}

function renderEvaluation(result) {
  const box = $("evaluation");
  if (!result.ok) {
    box.replaceChildren(el("div", { class: "alert" },
      el("p", { class: "alert__title" }, `/explain answered HTTP ${result.status}`),
      el("ul", { class: "alert__issues" }, outcomeLines(result).map((l) => el("li", {}, l)))));
    return;
  }
  const ev = result.body?.evaluation ?? {};
  const parts = [];
  const mme = ev.mme;
  if (mme) {
    const facts = [`Now ${fmt(mme.current)} MME/day`];
    if (typeof mme.withoutDrafts === "number" && mme.withoutDrafts !== mme.current) facts.push(`without the draft ${fmt(mme.withoutDrafts)}`);
    facts.push(mme.complete === false ? "incomplete: some orders could not be computed" : "complete");
    parts.push(el("p", { class: "eval-summary" }, facts.join(" · ")));
    const orders = (mme.orders ?? []).map((o) => [
      el("span", { class: "ref", title: o.reference ?? "" }, shortRef(o.reference)),
      o.source ?? "—",
      o.ingredient ?? (o.rxnorm ? `RxNorm ${o.rxnorm}` : "—"),
      o.dailyDose ? `${fmt(o.dailyDose.value)} ${o.dailyDose.unit ?? ""}` : "—",
      o.factor === null || o.factor === undefined ? "—" : fmt(o.factor, 2),
      fmt(o.mmePerDay),
      o.problem ? `${o.status ?? ""}: ${o.problem}` : (o.status ?? "—"),
      [o.start, o.end].filter(Boolean).join(" → ") || "—",
    ].map((cell, i) => (i === 7 || i === 3 ? el("span", { class: "nowrap" }, cell) : cell)));
    parts.push(table("MME per order", ["Order", "Source", "Drug", "Daily dose", "Factor", "MME/d", "Status", "Dates"], orders, [4, 5]));
    if (Array.isArray(mme.timeline) && mme.timeline.length && state.preview) {
      state.preview = { ...state.preview, mme: { ...state.preview.mme, steps: compressTimeline(mme.timeline) } };
      if (typeof mme.current === "number") state.preview.mme.current = typeof mme.withoutDrafts === "number" ? mme.withoutDrafts : mme.current;
      $("chart-source").textContent = "MME line from the service's /explain evaluation.";
      drawChart();
    }
  }
  if (ev.pain) {
    parts.push(table(`Pain trend${ev.pain.instrument ? ` (${ev.pain.instrument})` : ""}`, ["Measure", "Value"], scalarRows(ev.pain, ["scores", "instrument"])));
  }
  if (ev.derived && typeof ev.derived === "object") {
    const rows = scalarRows(ev.derived, []);
    if (rows.length) parts.push(table("Derived quantities", ["Quantity", "Value"], rows));
  }
  if (Array.isArray(ev.rules)) {
    parts.push(table("Rule decisions", ["Rule", "Fired", "Reason"],
      ev.rules.map((r) => [r.id ?? "—", el("span", { class: `badge ${r.fired ? "badge--yes" : "badge--no"}` }, r.fired ? "Fired" : "Silent"), r.reason ?? "—"])));
  }
  if (Array.isArray(ev.dataQuality) && ev.dataQuality.length) {
    parts.push(table("Data quality", ["Code", "Message", "Reference"], ev.dataQuality.map((d) => [d.code, d.message, d.reference])));
  }
  if (ev.data?.slots) {
    parts.push(table("Data used", ["Prefetch slot", "Status"], Object.entries(ev.data.slots).map(([k, v]) => [k, String(v)])));
    if (ev.data.notes?.length) parts.push(el("ul", { class: "notes" }, ev.data.notes.map((n) => el("li", {}, n))));
  }
  if (!mme && !ev.rules) {
    parts.unshift(el("p", { class: "hint" }, `This service's evaluation has no MME or rule details yet (keys: ${Object.keys(ev).join(", ") || "none"}).`));
  }
  box.replaceChildren(...parts);
}

// Scalars (and lists of scalars) of an object as [key, text] rows; nested objects are left
// to the Explain JSON tab.
function scalarRows(obj, skip) {
  const text = (v) => (typeof v === "boolean" ? (v ? "yes" : "no") : typeof v === "number" ? fmt(v, 2) : String(v));
  return Object.entries(obj)
    .filter(([k, v]) => !skip.includes(k) && v !== null && v !== undefined)
    .filter(([, v]) => typeof v !== "object" || (Array.isArray(v) && v.every((x) => typeof x !== "object")))
    .map(([k, v]) => [k, Array.isArray(v) ? v.map(text).join(" → ") : text(v)]);
}

// "MedicationRequest/classic-oih-mr-1" -> "MR classic-oih-mr-1" (full reference in the title).
function shortRef(reference) {
  if (!reference) return "—";
  const [type, id] = reference.split("/", 2);
  const abbreviation = { MedicationRequest: "MR", MedicationDispense: "MD" }[type];
  return id && abbreviation ? `${abbreviation} ${id}` : reference;
}

function compressTimeline(points) {
  const out = [];
  let last = null;
  for (const p of points) {
    if (p.mmePerDay !== last) out.push({ date: p.date, mmePerDay: p.mmePerDay });
    last = p.mmePerDay;
  }
  const final = points[points.length - 1];
  if (out[out.length - 1].date !== final.date) out.push({ date: final.date, mmePerDay: final.mmePerDay });
  return out;
}

// ------------------------------------------------------------------ tabs

function setupTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    }
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const move = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (move) {
        const next = tabs[(i + move + tabs.length) % tabs.length];
        select(next);
        next.focus();
        event.preventDefault();
      }
    });
  });
}

// ------------------------------------------------------------------ start

async function main() {
  setupTabs();
  for (const button of document.querySelectorAll(".copy")) {
    button.addEventListener("click", () => copyText($(button.dataset.copy).textContent, button));
  }
  const [scenarios, drugs] = await Promise.all([api("GET", "/sandbox/api/scenarios"), api("GET", "/sandbox/api/drugs")]);
  if (!scenarios.ok || !drugs.ok) {
    showError("The sandbox API is not available", scenarios.ok ? drugs : scenarios);
    return;
  }
  state.scenarios = scenarios.body.scenarios;
  state.drugs = drugs.body.drugs;
  state.frequencies = drugs.body.frequencies;
  fillScenarios();
  fillDrugs();
  syncDoseUnits();
  await discover();

  $("scenario").addEventListener("change", onScenarioChange);
  $("drug").addEventListener("change", () => { syncDoseUnits(); schedulePreview(); });
  for (const id of ["dose", "dose-unit", "freq", "days", "prn"]) {
    $(id).addEventListener("input", schedulePreview);
    $(id).addEventListener("change", schedulePreview);
  }
  $("draft-on").addEventListener("change", () => { syncDraftEnabled(); schedulePreview(); });
  for (const button of document.querySelectorAll("[data-hook]")) {
    button.addEventListener("click", () => fire(button.dataset.hook));
  }
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawChart, 150);
  });
  await onScenarioChange();
  document.body.dataset.ready = "true";
}

main();
