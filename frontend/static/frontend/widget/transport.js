// Widget transports with one interface: start(), stop(), command(type, data), isOpen,
// and callbacks onEvent(frame) / onState(state). WebSocket first; SSE and long-polling read the
// same events (same ids) and send commands as REST POSTs. Every (re)connect resumes after the
// last event id the widget has applied (the owner dedupes by event id and message id).
// Every request speaks the widget's language: Accept-Language on REST, ``locale`` in the
// socket's auth frame (docs/i18n.md), so the server's messages come in it.
import { getLocale } from "../shared/i18n.js";
import { SERVER_RETRY_CODES, SocketClient, backoffDelay, wsUrl } from "../shared/socket.js";
import { CLOSE, COMMAND, ERROR, SSE_EVENT_NAMES } from "../shared/protocol.js";

const API = "/api/widget/v1";

export class RestError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || (status === 0 ? "offline" : status >= 500 ? "server_error" : "error");
  }
}

export async function rest(method, path, { token, body, form, signal } = {}) {
  const headers = { Accept: "application/json", "Accept-Language": getLocale() };
  if (token) headers["X-Widget-Token"] = token;
  const init = { method, headers, signal, credentials: "omit" };
  if (form) init.body = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new RestError(0, null);
  }
  let data = null;
  if (response.status !== 204) { try { data = await response.json(); } catch (_) { data = null; } }
  if (!response.ok) throw new RestError(response.status, data);
  return data;
}

/** Commands over REST, for SSE and long-poll modes (and as a fallback). */
export function restCommand(token, type, data) {
  switch (type) {
    case COMMAND.MESSAGE_CREATE:
      return rest("POST", `${API}/messages`, { token, body: { content: data.content, echo_id: data.echo_id } });
    case COMMAND.TYPING_START:
    case COMMAND.TYPING_STOP:
      return rest("POST", `${API}/typing`, {
        token,
        body: typeof data.draft === "string" ? { typing: type === COMMAND.TYPING_START, draft: data.draft }
          : { typing: type === COMMAND.TYPING_START },
      });
    case COMMAND.CONVERSATION_READ:
      return rest("POST", `${API}/read`, { token, body: {} });
    case COMMAND.CSAT_SUBMIT:
      return rest("POST", `${API}/csat`, { token, body: data });
    default:
      return Promise.resolve({});
  }
}

class Base {
  constructor({ token, lastEventId, onEvent, onState }) {
    this.token = token;
    this.lastEventId = lastEventId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.state = "connecting";
  }
  setState(s, info) {
    this.state = s;
    this.onState(s, info);
  }
  get isOpen() {
    return this.state === "open";
  }
  command(type, data) {
    return restCommand(this.token, type, data);
  }
}

export class WsTransport extends Base {
  name = "ws";
  start() {
    this.drops = [];
    this.client = new SocketClient({
      url: wsUrl("/ws/widget/"),
      authFrame: () => ({ type: COMMAND.AUTH, data: { pubsub_token: this.token, locale: getLocale() } }),
      lastEventId: this.lastEventId,
      onEvent: this.onEvent,
      onState: (s, info) => {
        if (s === "reconnecting" && !(info && SERVER_RETRY_CODES.has(info.code))) {
          // Never opened after two tries, or open sockets dropped again and again: something
          // in the way (proxy, firewall) breaks WebSockets. An outage where nothing connects
          // keeps retrying the socket. A close the server chose (4503 unavailable, 4429, 4408)
          // proves WebSockets work: it just reconnects with backoff, never steps down.
          const now = Date.now();
          this.drops = this.drops.filter((t) => now - t < 60_000);
          if (info && info.wasOpen) this.drops.push(now);
          const failing = (!this.client.everOpened && info && info.attempt >= 2) || this.drops.length >= 3;
          if (failing) { this.setState("failed", info); return; }
        }
        this.setState(s, info);
      },
      onResume: (r) => { if (!r.ok && r.error && r.error.code === ERROR.RESYNC_REQUIRED) this.setState("resync"); },
    });
    this.client.start();
  }
  stop() {
    if (this.client) this.client.stop();
  }
  drop() {
    if (this.client) this.client.drop();
  }
  get isOpen() {
    return !!(this.client && this.client.isOpen);
  }
  command(type, data) {
    return this.client.command(type, data);
  }
}

const EVENT_NAMES = SSE_EVENT_NAMES;

export class SseTransport extends Base {
  name = "sse";
  start() {
    this.stopped = false;
    this.failures = 0;
    this.everOpened = false;
    this._open();
  }
  _open() {
    if (this.stopped) return;
    const source = new EventSource(this._url());
    this.source = source;
    const openTimer = setTimeout(() => { if (source.readyState !== EventSource.OPEN) this._failed(source); }, 8000);
    source.onopen = () => {
      clearTimeout(openTimer);
      this.everOpened = true;
      this.failures = 0;
      this.setState("open");
    };
    const handle = (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch (_) { return; }
      if (!frame || typeof frame !== "object") return;
      if (!frame.type || (e.type !== "message" && frame.type !== e.type && !("data" in frame))) {
        frame = { type: e.type, id: e.lastEventId ? Number(e.lastEventId) : undefined, data: frame };
      }
      if (frame.type === "resync_required" || (frame.error && frame.error.code === ERROR.RESYNC_REQUIRED)) {
        this.setState("resync");
        return;
      }
      this.onEvent(frame);
    };
    for (const name of EVENT_NAMES) source.addEventListener(name, handle);
    source.onerror = () => {
      clearTimeout(openTimer);
      // The server ends each stream after ~30 s: reconnect ourselves with the applied cursor.
      this._failed(source);
    };
  }
  _url() {
    const after = this.lastEventId();
    return `${API}/stream?token=${encodeURIComponent(this.token)}&last_event_id=${after}`;
  }
  _failed(source) {
    source.close();
    if (source !== this.source || this.stopped) return;
    this.failures += 1;
    if (!this.everOpened && this.failures >= 2) { this.setState("failed"); return; }
    if (this.failures >= 2) this._probe();
    this.setState("reconnecting", { attempt: this.failures });
    const delay = this.failures <= 1 ? 200 : backoffDelay(this.failures);
    this.timer = setTimeout(() => this._open(), delay);
  }
  /** EventSource hides HTTP statuses: look once at why the stream is refused (409 = resync). */
  async _probe() {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 3000);
    try {
      const response = await fetch(this._url(), { signal: abort.signal, credentials: "omit" });
      if (response.status === 409) this.setState("resync");
    } catch (_) { /* network: keep retrying */ }
    abort.abort();
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
  }
  drop() {
    if (this.source) this._failed(this.source);
  }
}

export class PollTransport extends Base {
  name = "poll";
  start() {
    this.stopped = false;
    this.failures = 0;
    this._loop();
  }
  async _loop() {
    // A long poll only answers when events come (or after ~25 s): commands are plain REST
    // calls, so the transport counts as open until a poll fails.
    this.setState("open");
    while (!this.stopped) {
      this.abort = new AbortController();
      try {
        const after = this.lastEventId();
        const data = await rest("GET", `${API}/events?after=${after}`, { token: this.token, signal: this.abort.signal });
        if (this.stopped) return;
        this.failures = 0;
        if (this.state !== "open") this.setState("open");
        for (const frame of (data && data.events) || []) this.onEvent(frame);
      } catch (err) {
        if (this.stopped) return;
        if (err && err.code === ERROR.RESYNC_REQUIRED) { this.setState("resync"); await sleep(500); continue; }
        if (err && (err.status === 401 || err.status === 403)) { this.setState("closed", { code: err.status === 401 ? CLOSE.UNAUTHORIZED : CLOSE.FORBIDDEN }); return; }
        // 503 (unavailable), 429, 5xx, network: retry with jittered backoff, keep the visitor.
        this.failures += 1;
        this.setState("reconnecting", { attempt: this.failures, code: err && err.status === 503 ? CLOSE.UNAVAILABLE : undefined });
        await sleep(backoffDelay(this.failures));
      }
    }
  }
  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }
  drop() {
    if (this.abort) this.abort.abort();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const TRANSPORTS = { ws: WsTransport, sse: SseTransport, poll: PollTransport };
export const FALLBACK = { ws: "sse", sse: "poll", poll: null };
