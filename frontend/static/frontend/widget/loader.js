/*! Support messenger widget loader. Paste on any page:
 *  <script src="https://HOST/widget.js" data-website-token="TOKEN" async></script>
 * Optional: data-transport="sse" | "poll" forces a fallback transport; data-locale="ru" picks
 * the widget's language (else the visitor's browser languages; docs/i18n.md).
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
  var isOpen = false, ready = false, queue = [];

  var iframe = document.createElement("iframe");
  iframe.src = origin + "/widget/frame/?website_token=" + encodeURIComponent(token) + "&transport=" + encodeURIComponent(transport) +
    (locale ? "&locale=" + encodeURIComponent(locale) : "");
  iframe.title = "Chat with us";
  iframe.setAttribute("data-messenger", "");
  iframe.setAttribute("allow", "clipboard-write");
  var base = "position:fixed!important;right:0!important;bottom:0!important;border:0!important;margin:0!important;" +
    "padding:0!important;background:transparent!important;z-index:2147483000!important;color-scheme:normal!important;" +
    "max-width:100vw!important;max-height:100vh!important;display:block!important;";

  function mobile() { return window.innerWidth < 520; }
  function layout() {
    var size = !isOpen ? "width:96px!important;height:96px!important;"
      // A phone: the whole layout viewport (100% of the fixed containing block, not 100vh,
      // which mobile browsers size past the visible area, hiding the composer under the toolbar).
      : mobile() ? "top:0!important;left:0!important;width:100%!important;height:100%!important;"
      : "width:420px!important;height:min(720px,100vh)!important;";
    iframe.setAttribute("style", base + size);
    post({ cmd: "layout", open: isOpen, mobile: mobile() });
  }

  function post(message) {
    message.messenger = true;
    if (!ready && message.cmd !== "init" && message.cmd !== "layout") { queue.push(message); return; }
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
    }
  });
  iframe.addEventListener("load", function () {
    iframe.contentWindow.postMessage({ messenger: true, cmd: "init", host: location.href }, origin);
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
    setLocale: function (code) { post({ cmd: "setLocale", locale: String(code || "") }); },
    get isOpen() { return isOpen; },
  };
  layout();
  (document.body || document.documentElement).appendChild(iframe);
})();
