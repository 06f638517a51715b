// Attention for a conversation newly assigned to me: a short tone and a desktop notification
// (a toast when the tab is visible). Permission is asked once, on the first click (browsers
// only allow the prompt after a user gesture), and remembered.
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

export function notifyAssigned(conv, open) {
  const name = contactName(conv.contact);
  beep();
  state.notifications = (state.notifications || 0) + 1;
  if ("Notification" in window && Notification.permission === "granted" && document.visibilityState !== "visible") {
    const n = new Notification("New conversation assigned to you", { body: `${name} · #${conv.display_id}`, tag: `conv-${conv.id}` });
    n.onclick = () => { window.focus(); open(conv.id); n.close(); };
  } else {
    toast(`New conversation assigned to you: ${name} #${conv.display_id}`);
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
