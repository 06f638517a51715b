// The widget's support-desk parts (DESIGN.md §11, docs/desk.md): the header's availability line
// (business hours), the visitor's place in line (queue.updated), the satisfaction survey card
// (input_csat) and the email request under an out-of-office answer. Content only ever becomes
// text (dom.js h()); every word comes from the catalogues (shared/i18n.js) and is set again when
// the language changes (relabel on each render).
import { h } from "../shared/dom.js";
import { formatTime, t } from "../shared/i18n.js";

const $ = (id) => document.getElementById(id);

// --- availability -------------------------------------------------------------------------------

const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]; // Date.getDay() order

/** "back at 9:00" today, "back tomorrow at 9:00", "back Monday at 9:00": the visitor's own
 * time zone and language (one catalogue entry per weekday: Russian puts it in the accusative). */
export function backAt(iso, now = new Date()) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return t("widget.status.back_soon");
  const time = formatTime(when);
  if (when.toDateString() === now.toDateString()) return t("widget.status.back_at", { time });
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  if (when.toDateString() === tomorrow.toDateString()) return t("widget.status.back_tomorrow", { time });
  return t(`widget.status.back_${WEEKDAYS[when.getDay()]}`, { time });
}

/** One answer time at a time: outside hours only "back at …" (the greeting becomes the
 * out-of-office text); online "a few minutes" unless the queue line gives its own estimate;
 * within hours with nobody free, no time at all. */
export function statusLine(st) {
  const cfg = st.config;
  if (cfg.next_open_at) return { online: false, text: t("widget.status.away", { back: backAt(cfg.next_open_at) }) };
  if (cfg.online) {
    return { online: true, text: st.queue && st.queue.expected_wait_seconds ? t("widget.status.online_now") : t("widget.status.online_reply") };
  }
  return { online: false, text: t("widget.status.busy") };
}

export function greetingText(st) {
  const cfg = st.config;
  if (cfg.next_open_at && cfg.out_of_office_message) return cfg.out_of_office_message;
  return cfg.greeting || "";
}

/** Ask the config again when the hours start (the header turns to online by itself). */
let openTimer = 0;
export function scheduleOpening(st, reload) {
  clearTimeout(openTimer);
  if (!st.config.next_open_at) return;
  const wait = new Date(st.config.next_open_at).getTime() - Date.now();
  if (wait > 0 && wait < 2 ** 31 - 1) openTimer = setTimeout(reload, wait + 1000);
}

// --- queue ------------------------------------------------------------------------------------

export function renderQueue(st) {
  const el = $("w-queue");
  if (!el) return;
  const q = st.queue;
  const waiting = q && q.position && !(st.conversation && (st.conversation.status !== "open" || st.conversation.assignee));
  el.hidden = !waiting;
  if (!waiting) { el.textContent = ""; return; }
  const place = q.position === 1 ? t("widget.queue.next") : t("widget.queue.position", { position: q.position });
  if (!q.expected_wait_seconds) { el.textContent = place; return; }
  const wait = t("widget.queue.wait", { count: Math.max(1, Math.round(q.expected_wait_seconds / 60)) });
  el.textContent = t("widget.queue.line_wait", { place, wait });
}

// --- satisfaction survey ------------------------------------------------------------------------

const RATINGS = [1, 2, 3, 4, 5];
const TRANSIENT = new Set(["offline", "timeout", "server_error", "error", "unavailable"]);
const ratingLabel = (n) => t(`widget.csat.rating_${n}`);
const cards = new Map(); // survey message id -> card (kept across renders: the draft survives)

/** The survey bubble of an ``input_csat`` message; ``submit(conversationId, rating, feedback)``
 * returns a promise. ``question``: the inbox's, in the reader's language (config), else the
 * message's text. Answered (content_attributes.submitted, from the server) shows thanks. */
export function csatCard(m, submit, question) {
  let card = cards.get(m.id);
  if (!card) {
    card = buildCard(m, submit);
    cards.set(m.id, card);
  }
  card.update((m.content_attributes || {}).submitted || null, question || m.content || t("widget.csat.question"));
  return card.el;
}

function buildCard(m, submit) {
  let rating = 0;
  let submitted = null;
  let failure = null; // why the last send failed: the server's words for a refusal, else null
  const stars = RATINGS.map((n) => h("button", {
    type: "button", class: "csat-star", role: "radio", "aria-checked": "false", dataset: { rating: String(n) },
    onclick: () => choose(n),
  }, "★"));
  const feedback = h("textarea", { class: "csat-feedback", rows: "2", maxlength: "2000" });
  const send = h("button", { type: "submit", class: "csat-send", disabled: true });
  const error = h("div", { class: "csat-error", role: "alert", hidden: true });
  const group = h("div", { class: "csat-stars", role: "radiogroup" }, stars);
  const form = h("form", { class: "csat-form" }, group, feedback, send, error);
  const thanks = h("div", { class: "csat-thanks", hidden: true, dataset: { testid: "csat-thanks" } });
  const text = h("div", { class: "w-text" });
  const el = h("li", { class: "w-msg theirs w-csat", dataset: { id: String(m.id), testid: "csat" } },
    h("div", { class: "w-bubble" }, text, form, thanks));

  function choose(n) {
    rating = n;
    stars.forEach((star, i) => {
      star.classList.toggle("on", i < n);
      star.setAttribute("aria-checked", String(i + 1 === n));
    });
    send.disabled = false;
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!rating) return;
    send.disabled = true;
    error.hidden = true;
    try {
      const answer = await submit(m.conversation_id, rating, feedback.value.trim());
      update({ rating: answer.rating, feedback: answer.feedback }, text.textContent);
    } catch (err) {
      // A refusal the server explains (in the visitor's language: the socket's auth locale,
      // Accept-Language on REST); a lost connection gets the catalogue's words.
      failure = err && err.message && !TRANSIENT.has(err.code) ? err.message : "";
      error.hidden = false;
      error.textContent = failure || t("widget.csat.send_failed");
      send.disabled = false;
    }
  });
  /** The words in the current language (each render: a language change relabels the card). */
  function label(question) {
    text.textContent = question;
    stars.forEach((star, i) => {
      star.title = ratingLabel(i + 1);
      star.setAttribute("aria-label", t("widget.csat.star", { rating: i + 1, label: ratingLabel(i + 1) }));
    });
    group.setAttribute("aria-label", t("widget.csat.group"));
    feedback.placeholder = t("widget.csat.feedback_placeholder");
    feedback.setAttribute("aria-label", t("widget.csat.feedback_label"));
    send.textContent = t("common.send");
    if (failure === "") error.textContent = t("widget.csat.send_failed");
    thanks.textContent = "";
    if (submitted) {
      thanks.append(h("div", {}, t("widget.csat.thanks")),
        h("div", { class: "csat-given", "aria-label": t("widget.csat.rated", { rating: submitted.rating }) },
          "★".repeat(submitted.rating) + "☆".repeat(5 - submitted.rating)),
        submitted.feedback ? h("div", { class: "csat-quote" }, `“${submitted.feedback}”`) : null);
    }
  }
  function update(answer, question) {
    submitted = answer || submitted;
    form.hidden = !!submitted;
    thanks.hidden = !submitted;
    label(question);
  }
  return { el, update };
}

// --- email request under the out-of-office answer -----------------------------------------------

const emailForms = new Map();

/** Under an out-of-office message: ask for an email once (remembered), so the team can answer
 * later. ``save(email)`` returns a promise of the contact. */
export function emailRequest(m, st, save) {
  if (!(m.content_attributes || {}).out_of_office) return null;
  let form = emailForms.get(m.id);
  if (!form) {
    form = buildEmailForm(st, save);
    emailForms.set(m.id, form);
  }
  form.update();
  return form.el;
}

function buildEmailForm(st, save) {
  let failure = null; // the catalogue key of the last error shown
  const input = h("input", { type: "email", required: true, autocomplete: "email" });
  const button = h("button", { type: "submit" });
  const error = h("div", { class: "csat-error", role: "alert", hidden: true });
  const prompt = h("label", { class: "w-email-label" });
  const form = h("form", { class: "w-email-form" }, prompt, h("div", { class: "w-email-row" }, input, button), error);
  const done = h("div", { class: "w-email-done", hidden: true });
  const el = h("li", { class: "w-msg theirs w-email", dataset: { testid: "email-request" } },
    h("div", { class: "w-bubble" }, form, done));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.hidden = true;
    failure = null;
    try {
      const contact = await save(input.value.trim());
      st.contactEmail = contact.email;
      update();
    } catch (err) {
      failure = (err && err.status === 400) ? "widget.email.invalid" : "widget.email.save_failed";
      error.hidden = false;
      update();
    }
    button.disabled = false;
  });
  /** State and words in the current language (each render: a language change relabels it). */
  function update() {
    input.placeholder = t("widget.email.placeholder");
    input.setAttribute("aria-label", t("widget.email.label"));
    button.textContent = t("widget.email.submit");
    prompt.textContent = t("widget.email.prompt");
    if (failure) error.textContent = t(failure);
    form.hidden = !!st.contactEmail;
    done.hidden = !st.contactEmail;
    done.textContent = st.contactEmail ? t("widget.email.done", { email: st.contactEmail }) : "";
  }
  return { el, update };
}
