// The widget's support-desk parts (DESIGN.md §11, docs/desk.md): the header's availability line
// (business hours), the visitor's place in line (queue.updated), the satisfaction survey card
// (input_csat) and the email request under an out-of-office answer. Content only ever becomes
// text (dom.js h()).
import { h } from "../shared/dom.js";

const $ = (id) => document.getElementById(id);

// --- availability -------------------------------------------------------------------------------

/** "back at 9:00" today, "back tomorrow at 9:00", "back Monday at 9:00": the visitor's own
 * time zone and language (Intl). */
export function backAt(iso, now = new Date()) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "back soon";
  const time = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(when);
  if (when.toDateString() === now.toDateString()) return `back at ${time}`;
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  if (when.toDateString() === tomorrow.toDateString()) return `back tomorrow at ${time}`;
  const day = new Intl.DateTimeFormat(undefined, { weekday: "long" }).format(when);
  return `back ${day} at ${time}`;
}

/** One answer time at a time: outside hours only "back at …" (the greeting becomes the
 * out-of-office text); online "a few minutes" unless the queue line gives its own estimate;
 * within hours with nobody free, no time at all. */
export function statusLine(st) {
  const cfg = st.config;
  if (cfg.next_open_at) return { online: false, text: `Away — ${backAt(cfg.next_open_at)}` };
  if (cfg.online) return { online: true, text: st.queue && st.queue.expected_wait_seconds ? "Online" : "Online — we reply in a few minutes" };
  return { online: false, text: "We will reply as soon as someone is free" };
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

function minutes(seconds) {
  const m = Math.max(1, Math.round(seconds / 60));
  return m === 1 ? "about 1 minute" : `about ${m} minutes`;
}

export function renderQueue(st) {
  const el = $("w-queue");
  if (!el) return;
  const q = st.queue;
  const waiting = q && q.position && !(st.conversation && (st.conversation.status !== "open" || st.conversation.assignee));
  el.hidden = !waiting;
  if (!waiting) { el.textContent = ""; return; }
  const place = q.position === 1 ? "You are next in line" : `You are number ${q.position} in line`;
  el.textContent = q.expected_wait_seconds ? `${place}, ${minutes(q.expected_wait_seconds)}` : place;
}

// --- satisfaction survey ------------------------------------------------------------------------

const LABELS = ["Very unsatisfied", "Unsatisfied", "Okay", "Satisfied", "Very satisfied"];
const cards = new Map(); // survey message id -> card (kept across renders: the draft survives)

/** The survey bubble of an ``input_csat`` message; ``submit(conversationId, rating, feedback)``
 * returns a promise. Answered (content_attributes.submitted, from the server) shows thanks. */
export function csatCard(m, submit) {
  let card = cards.get(m.id);
  if (!card) {
    card = buildCard(m, submit);
    cards.set(m.id, card);
  }
  card.update((m.content_attributes || {}).submitted || null);
  return card.el;
}

function buildCard(m, submit) {
  let rating = 0;
  const stars = [1, 2, 3, 4, 5].map((n) => h("button", {
    type: "button", class: "csat-star", role: "radio", "aria-checked": "false", title: LABELS[n - 1],
    "aria-label": `${n} of 5: ${LABELS[n - 1]}`, dataset: { rating: String(n) },
    onclick: () => choose(n),
  }, "★"));
  const feedback = h("textarea", { class: "csat-feedback", rows: "2", maxlength: "2000",
    placeholder: "Anything to add? (optional)", "aria-label": "Comment" });
  const send = h("button", { type: "submit", class: "csat-send", disabled: true }, "Send");
  const error = h("div", { class: "csat-error", role: "alert", hidden: true });
  const form = h("form", { class: "csat-form" },
    h("div", { class: "csat-stars", role: "radiogroup", "aria-label": "Your rating" }, stars),
    feedback, send, error);
  const thanks = h("div", { class: "csat-thanks", hidden: true, dataset: { testid: "csat-thanks" } });
  const el = h("li", { class: "w-msg theirs w-csat", dataset: { id: String(m.id), testid: "csat" } },
    h("div", { class: "w-bubble" }, h("div", { class: "w-text" }, m.content || "How did we do?"), form, thanks));

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
      update({ rating: answer.rating, feedback: answer.feedback });
    } catch (err) {
      error.hidden = false;
      error.textContent = (err && err.message) || "Could not send your rating. Please try again.";
      send.disabled = false;
    }
  });
  function update(submitted) {
    form.hidden = !!submitted;
    thanks.hidden = !submitted;
    if (submitted) {
      thanks.textContent = "";
      thanks.append(h("div", {}, "Thank you for your feedback!"),
        h("div", { class: "csat-given", "aria-label": `You rated ${submitted.rating} of 5` },
          "★".repeat(submitted.rating) + "☆".repeat(5 - submitted.rating)),
        submitted.feedback ? h("div", { class: "csat-quote" }, `“${submitted.feedback}”`) : null);
    }
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
  const input = h("input", { type: "email", required: true, autocomplete: "email", placeholder: "you@example.com",
    "aria-label": "Your email" });
  const button = h("button", { type: "submit" }, "Notify me");
  const error = h("div", { class: "csat-error", role: "alert", hidden: true });
  const form = h("form", { class: "w-email-form" },
    h("label", { class: "w-email-label" }, "Leave your email and we will answer you there:"),
    h("div", { class: "w-email-row" }, input, button), error);
  const done = h("div", { class: "w-email-done", hidden: true });
  const el = h("li", { class: "w-msg theirs w-email", dataset: { testid: "email-request" } },
    h("div", { class: "w-bubble" }, form, done));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      const contact = await save(input.value.trim());
      st.contactEmail = contact.email;
      update();
    } catch (err) {
      error.hidden = false;
      error.textContent = (err && err.status === 400) ? "Please enter a valid email address." : "Could not save. Please try again.";
    }
    button.disabled = false;
  });
  function update() {
    form.hidden = !!st.contactEmail;
    done.hidden = !st.contactEmail;
    done.textContent = st.contactEmail ? `Thanks! We will answer you at ${st.contactEmail}.` : "";
  }
  return { el, update };
}
