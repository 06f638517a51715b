// A reconnecting JSON socket speaking DESIGN.md §7: commands carry a `ref` and get exactly one
// `reply`; durable events carry an `id`. On every (re)connect it sends the optional auth frame,
// then `resume` from the last event id the owner has applied, so nothing is missed; the owner
// dedupes by event id (replays may overlap what was already applied).
import { t } from "./i18n.js";
import { CLOSE, COMMAND, ERROR, FRAME } from "./protocol.js";

// Reconnect delays (DESIGN.md §13): exponential, capped, with "equal jitter" (half fixed, half
// random) so that the clients of a restarted server do not all come back at the same instant.
const BACKOFF_MS = [300, 1000, 2000, 4000, 8000, 15000, 30000];
// Close codes after which retrying with the same credentials is pointless: 4401 wrong, expired or
// revoked credential; 4403 forbidden. Every other close (4503 unavailable, 4429 too slow, 4408
// idle, 1006 network, 1011...) reconnects with backoff and resumes.
export const FINAL_CLOSE_CODES = new Set([CLOSE.UNAUTHORIZED, CLOSE.FORBIDDEN]);
// Server closes that prove the WebSocket path itself works (the server chose to close).
export const SERVER_RETRY_CODES = new Set([CLOSE.IDLE_TIMEOUT, CLOSE.TOO_SLOW, CLOSE.UNAVAILABLE]);

export function backoffDelay(attempt) {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return base / 2 + Math.random() * base / 2;
}
// Half-open detection: a connection whose network died without a close (a laptop's Wi-Fi
// switched, a NAT dropped it) looks open for minutes. Every PING_MS the client pings; no answer
// within PONG_TIMEOUT_MS and it abandons the socket, reconnects and resumes (docs/frontend.md).
const PING_MS = 20_000;
const PONG_TIMEOUT_MS = 5_000;
const REPLY_TIMEOUT_MS = 15_000;

export class SocketClient {
  /**
   * @param {object} opts
   * @param {string} opts.url          ws(s) URL
   * @param {() => object|null} [opts.authFrame]  first frame after open (widget auth)
   * @param {() => number} opts.lastEventId       where to resume from
   * @param {(frame: object, meta: {replayed: boolean}) => void} opts.onEvent  durable and
   *   ephemeral events; `replayed` for those the resume sent before its reply (history, not news)
   * @param {(state: string, info?: object) => void} opts.onState  connecting|open|reconnecting|closed
   * @param {(reply: object) => void} [opts.onResume]  the resume command's reply
   * @param {number} [opts.pingMs]         ping interval (default 20 s)
   * @param {number} [opts.pongTimeoutMs]  no answer to a ping within it: half-open (default 5 s)
   */
  constructor(opts) {
    this.opts = opts;
    this.ws = null;
    this.seq = 0;
    this.pending = new Map();
    this.attempt = 0;
    this.stopped = false;
    this.ready = false;
    this.everOpened = false;
    this.pingTimer = null;
    this.retryTimer = null;
    this.closeReason = null;
    this.resumeRef = null;
    this.probing = false;
    // Back online after a network change: check the socket at once rather than at the next ping.
    this.onOnline = () => this.probe();
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this._open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    this._teardown(new Error("stopped"));
    if (this.ws) try { this.ws.close(1000); } catch (_) { /* already closed */ }
    this.ws = null;
    this.opts.onState("closed");
  }

  /** Drop the connection as if the network failed (reconnects by itself). */
  drop() {
    if (this.ws) this.ws.close(4000, "client drop");
  }

  get isOpen() {
    return this.ready && this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a command; resolves with the reply's data, rejects with {code, message}. */
  command(type, data = {}) {
    if (!this.isOpen) return Promise.reject({ code: "offline", message: t("common.not_connected") });
    // A resume sent by the owner (after a resync) replays too: its events are history as well.
    return this._send(type, data, type === COMMAND.RESUME ? (ref) => { this.resumeRef = ref; } : undefined);
  }

  /** Ping now. No answer within the pong timeout means the connection is half-open: it is
   *  abandoned (as if closed), and the client reconnects and resumes. */
  probe() {
    if (!this.isOpen || this.probing) return;
    const ws = this.ws;
    this.probing = true;
    const timer = setTimeout(() => {
      this.probing = false;
      if (ws === this.ws) this._abandon(ws);
    }, this.opts.pongTimeoutMs || PONG_TIMEOUT_MS);
    const done = () => { clearTimeout(timer); this.probing = false; };
    this._send(COMMAND.PING, {}).then(done, done);
  }

  _abandon(ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(4000, "no pong"); } catch (_) { /* closing already */ } // i18n-ignore: a close reason
    this._closed(ws, undefined);
  }

  _send(type, data, onRef) {
    const ref = `c-${++this.seq}`;
    if (onRef) onRef(ref);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject({ code: "timeout", message: t("common.no_answer") });
      }, REPLY_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer });
      try {
        this.ws.send(JSON.stringify({ type, ref, data }));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(ref);
        reject({ code: "offline", message: t("common.not_connected") });
      }
    });
  }

  _open() {
    this.opts.onState(this.everOpened ? "reconnecting" : "connecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.opts.url);
    } catch (err) {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = async () => {
      const auth = this.opts.authFrame && this.opts.authFrame();
      if (auth) ws.send(JSON.stringify(auth));
      this.ready = true;
      try {
        // Events before the resume's reply are the replay (the server queues the reply after them).
        const reply = await this._send(COMMAND.RESUME, { last_event_id: this.opts.lastEventId() },
          (ref) => { this.resumeRef = ref; });
        this.opts.onResume && this.opts.onResume({ ok: true, data: reply });
      } catch (error) {
        if (ws !== this.ws) return;
        this.opts.onResume && this.opts.onResume({ ok: false, error });
        if (!error || error.code !== ERROR.RESYNC_REQUIRED) {
          // Not resumed (the server could not read the outbox: `unavailable`, or no answer):
          // going live now would skip the missed events. Reconnect with backoff and resume then.
          this.closeReason = CLOSE.UNAVAILABLE;
          try { ws.close(4000, "resume failed"); } catch (_) { /* closing already */ }
          return;
        }
      }
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      this.attempt = 0;
      this.everOpened = true;
      this.opts.onState("open");
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.probe(), this.opts.pingMs || PING_MS);
    };
    ws.onmessage = (msg) => {
      let frame;
      try { frame = JSON.parse(msg.data); } catch (_) { return; }
      if (!frame || typeof frame !== "object") return;
      if (frame.type === FRAME.REPLY) {
        if (frame.ref === this.resumeRef) this.resumeRef = null;
        const waiter = this.pending.get(frame.ref);
        if (!waiter) return;
        this.pending.delete(frame.ref);
        clearTimeout(waiter.timer);
        if (frame.ok) waiter.resolve(frame.data ?? {});
        else waiter.reject(frame.error || { code: "error", message: t("common.failed") });
        return;
      }
      this.opts.onEvent(frame, { replayed: this.resumeRef !== null });
    };
    ws.onclose = (ev) => this._closed(ws, ev.code);
    ws.onerror = () => { /* onclose follows */ };
  }

  _closed(ws, closeCode) {
    if (ws !== this.ws) return;
    const wasOpen = this.ready;
    this._teardown({ code: "offline", message: t("common.connection_lost") });
    this.ws = null;
    this.resumeRef = null;
    const code = this.closeReason || closeCode;
    this.closeReason = null;
    if (this.stopped) return;
    if (FINAL_CLOSE_CODES.has(code)) {
      this.opts.onState("closed", { code });
      return;
    }
    this._scheduleRetry(code, wasOpen);
  }

  _teardown(error) {
    this.ready = false;
    clearInterval(this.pingTimer);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(error);
    }
    this.pending.clear();
  }

  _scheduleRetry(code, wasOpen = false) {
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.opts.onState("reconnecting", { attempt: this.attempt, code, delay, wasOpen });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._open(), delay);
  }
}

export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}
