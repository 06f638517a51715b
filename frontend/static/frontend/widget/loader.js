/*! Support messenger widget loader. Paste on any page:
 *  <script src="https://HOST/widget.js" data-website-token="TOKEN" async></script>
 * Optional: data-transport="sse" | "poll" forces a fallback transport; data-locale="ru" picks
 * the widget's language (else the visitor's browser languages; $messenger.setLocale("ru") at
 * any time overrides both: docs/i18n.md).
 * It adds one iframe (launcher bubble + chat window) so the host page's CSS cannot reach the
 * widget, and exposes window.$messenger: open(), close(), toggle(), setUser({...}),
 * setCustomAttributes({...}), setLocale("ru"), reset(); window events "messenger:ready",
 * "messenger:message".
 */
(function () {
  "use strict";
  if (window.$messenger && window.$messenger.__loaded) return;
  var script = document.currentScript || document.querySelector("script[data-website-token]");
  if (!script) return;
  var token = script.getAttribute("data-website-token");
  if (!token) { console.warn("messenger: data-website-token is missing"); return; }
  var transport = script.getAttribute("data-transport") || "auto";
  var locale = script.getAttribute("data-locale");
  var origin = new URL(script.src, location.href).origin;
  var isOpen = false, ready = false, loaded = false, queue = [], sdkLocale = null;

  var iframe = document.createElement("iframe");
  iframe.src = origin + "/widget/frame/?website_token=" + encodeURIComponent(token) + "&transport=" + encodeURIComponent(transport) +
    (locale ? "&locale=" + encodeURIComponent(locale) : "");
  iframe.title = "Chat with us"; // i18n-ignore: until the frame names it in its language ("locale")
  iframe.setAttribute("data-messenger", "");
  iframe.setAttribute("allow", "clipboard-write");
  // Every declaration !important: the host page's CSS must not move or hide the iframe.
  function important(declarations) {
    return declarations.map(function (d) { return d + "!important;"; }).join("");
  }
  var base = important(["position:fixed", "right:0", "bottom:0", "border:0", "margin:0", "padding:0",
    "background:transparent", "z-index:2147483000", "color-scheme:normal", "max-width:100vw", "max-height:100vh",
    "display:block"]);

  function mobile() { return window.innerWidth < 520; }
  function layout() {
    var size = important(!isOpen ? ["width:96px", "height:96px"]
      // A phone: the whole layout viewport (100% of the fixed containing block, not 100vh,
      // which mobile browsers size past the visible area, hiding the composer under the toolbar).
      : mobile() ? ["top:0", "left:0", "width:100%", "height:100%"]
      : ["width:420px", "height:min(720px,100vh)"]);
    iframe.setAttribute("style", base + size);
    post({ cmd: "layout", open: isOpen, mobile: mobile() });
  }

  function post(message) {
    message.messenger = true;
    if (!ready && message.cmd !== "init" && message.cmd !== "layout" && message.cmd !== "setLocale") { queue.push(message); return; }
    if (iframe.contentWindow) iframe.contentWindow.postMessage(message, origin);
  }

  window.addEventListener("message", function (e) {
    if (e.origin !== origin || e.source !== iframe.contentWindow || !e.data || !e.data.messenger) return;
    var d = e.data;
    if (d.type === "ready") {
      ready = true;
      var pending = queue; queue = [];
      pending.forEach(function (m) { iframe.contentWindow.postMessage(m, origin); });
      window.dispatchEvent(new CustomEvent("messenger:ready", { detail: d.detail || {} }));
    } else if (d.type === "open" || d.type === "close") {
      isOpen = d.type === "open";
      layout();
    } else if (d.type === "message") {
      window.dispatchEvent(new CustomEvent("messenger:message", { detail: d.detail }));
    } else if (d.type === "locale" && d.detail) {
      if (typeof d.detail.title === "string") iframe.title = d.detail.title.slice(0, 200);
      if (typeof d.detail.locale === "string") iframe.setAttribute("lang", d.detail.locale.slice(0, 35));
    }
  });
  iframe.addEventListener("load", function () {
    loaded = true;
    iframe.contentWindow.postMessage({ messenger: true, cmd: "init", host: location.href }, origin);
    // The language goes at once, not after "ready": the first session already speaks it.
    if (sdkLocale !== null) post({ cmd: "setLocale", locale: sdkLocale });
    layout();
  });
  window.addEventListener("resize", layout);

  window.$messenger = {
    __loaded: true,
    open: function () { isOpen = true; layout(); post({ cmd: "open" }); },
    close: function () { isOpen = false; layout(); post({ cmd: "close" }); },
    toggle: function () { (isOpen ? this.close : this.open).call(this); },
    setUser: function (user) { post({ cmd: "setUser", user: user || {} }); },
    setCustomAttributes: function (attrs) { post({ cmd: "setCustomAttributes", attributes: attrs || {} }); },
    reset: function () { post({ cmd: "reset" }); },
    setLocale: function (code) {
      sdkLocale = String(code || "");
      if (loaded) post({ cmd: "setLocale", locale: sdkLocale });
    },
    get isOpen() { return isOpen; },
  };
  layout();
  (document.body || document.documentElement).appendChild(iframe);
})();
