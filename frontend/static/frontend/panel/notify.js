// Attention for a conversation newly assigned to me: a short tone and a desktop notification
// (a toast when the tab is visible). Permission is asked once, on the first click (browsers
// only allow the prompt after a user gesture), and remembered.
import { t } from "../shared/i18n.js";
import { contactName, state } from "./state.js";

const ASKED_KEY = "messenger.notifications.asked";

export function askNotificationPermissionOnClick() {
  document.addEventListener("click", askOnce, { once: true });
}

function askOnce() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  if (localStorage.getItem(ASKED_KEY)) return;
  localStorage.setItem(ASKED_KEY, "1");
  Notification.requestPermission().catch(() => {});
}

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  } catch (_) { /* no audio available */ }
}

// Assignments that arrive together (an operator coming online is handed the waiting
// conversations at once) make one notice, not one per conversation.
const BATCH_MS = 600;
let batch = [];
let batchTimer = 0;

export function notifyAssigned(conv, open) {
  if (batch.some((c) => c.id === conv.id)) return;
  batch.push(conv);
  if (!batchTimer) batchTimer = setTimeout(() => flushAssigned(open), BATCH_MS);
}

function flushAssigned(open) {
  const convs = batch;
  batch = [];
  batchTimer = 0;
  if (!convs.length) return;
  beep();
  state.notifications = (state.notifications || 0) + convs.length;
  state.noticed = [...(state.noticed || []), ...convs.map((c) => c.id)].slice(-100); // which ones (tests)
  const [conv] = convs;
  const name = contactName(conv.contact);
  const title = convs.length === 1 ? t("panel.notify.title") : t("panel.notify.title_many", { count: convs.length });
  const body = convs.length === 1 ? `${name} · #${conv.display_id}` : convs.map((c) => `#${c.display_id}`).join(", ");
  if ("Notification" in window && Notification.permission === "granted" && document.visibilityState !== "visible") {
    const n = new Notification(title, { body, tag: convs.length === 1 ? `conv-${conv.id}` : "assigned" });
    n.onclick = () => { window.focus(); open(conv.id); n.close(); };
  } else if (convs.length === 1) {
    toast(t("panel.notify.toast", { name, number: conv.display_id }));
  } else {
    toast(t("panel.notify.toast_many", { title, list: body }));
  }
}

export function toast(text) {
  let stack = document.getElementById("toasts");
  if (!stack) {
    stack = document.createElement("div");
    stack.id = "toasts";
    stack.className = "toasts";
    document.body.append(stack);
  }
  const el = document.createElement("div");
  el.className = "toast";
  el.setAttribute("role", "status");
  el.textContent = text;
  stack.append(el);
  while (stack.children.length > 4) stack.firstChild.remove();
  setTimeout(() => el.remove(), 5000);
}
