/* Comptoir live chat widget: one <script src=".../chat/widget.js" data-shop-key="..."> tag.
   Plain JS, no dependency; messages are shown as text only (textContent, never HTML). */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__comptoirChat) return;
  window.__comptoirChat = true;
  var KEY = me.getAttribute("data-shop-key") || "";
  var BASE = new URL(me.src, location.href).href.replace(/\/widget\.js.*$/, "/") + encodeURIComponent(KEY) + "/";
  var FR = /^fr\b/i.test(navigator.language || "");
  var T = FR ? {
    open: "Discuter avec nous", title: "Discussion", close: "Fermer", send: "Envoyer",
    placeholder: "Votre message…", name: "Votre nom", email: "Votre e-mail", order: "N° de commande (facultatif)",
    hello: "Bonjour ! Comment pouvons-nous vous aider ?", typing: "{name} écrit…", agent: "Conseiller",
    you: "Vous", away: "Nous sommes absents. Laissez votre e-mail : la réponse vous parviendra par e-mail",
    opens: " (à partir du {at})", sending: "envoi…", failed: "non envoyé, nouvel essai…",
    attach: "Joindre un fichier", tooBig: "Fichier trop lourd (max {kb} Ko)", badType: "Images PNG, JPEG, GIF ou PDF seulement",
    transcript: "Recevoir la conversation par e-mail", sent: "Envoyé.", needEmail: "Indiquez votre e-mail."
  } : {
    open: "Chat with us", title: "Chat", close: "Close", send: "Send",
    placeholder: "Your message…", name: "Your name", email: "Your email", order: "Order number (optional)",
    hello: "Hello! How can we help?", typing: "{name} is typing…", agent: "Agent",
    you: "You", away: "We are away. Leave your email and the answer will come by email",
    opens: " (from {at})", sending: "sending…", failed: "not sent, trying again…",
    attach: "Attach a file", tooBig: "File too large (max {kb} KB)", badType: "PNG, JPEG, GIF images or PDF only",
    transcript: "Email me this conversation", sent: "Sent.", needEmail: "Enter your email."
  };
  var store = "comptoir-chat:" + KEY;
  var state = { token: localStorage.getItem(store) || "", seen: {}, last: 0, conf: null, typingAt: 0, file: null };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }
  function call(path, body) {
    return fetch(BASE + path, { method: "POST", mode: "cors", credentials: "omit", keepalive: path === "activity",
      headers: { "Content-Type": "text/plain" }, body: JSON.stringify(Object.assign({ token: state.token }, body)) });
  }
  function newId() {
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  var css = el("link"); css.rel = "stylesheet"; css.href = BASE.replace(/[^/]+\/$/, "") + "widget.css";
  document.head.appendChild(css);
  var root = el("div", "cw-root"); root.lang = FR ? "fr" : "en";
  var launcher = el("button", "cw-launcher", T.open); launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  var panel = el("section", "cw-panel"); panel.hidden = true;
  panel.setAttribute("role", "dialog"); panel.setAttribute("aria-label", T.title);
  var head = el("header", "cw-head"); head.appendChild(el("h2", "", T.title));
  var closer = el("button", "cw-close", "×"); closer.type = "button"; closer.setAttribute("aria-label", T.close);
  head.appendChild(closer);
  var log = el("ol", "cw-log"); log.setAttribute("aria-live", "polite"); log.tabIndex = 0;
  var notice = el("p", "cw-notice"); notice.hidden = true; notice.setAttribute("role", "status");
  var typing = el("p", "cw-typing"); typing.setAttribute("aria-live", "polite");
  var form = el("form", "cw-form");
  var fields = el("div", "cw-fields");
  function input(name, label, type) {
    var i = el("input"); i.name = name; i.type = type || "text"; i.placeholder = label; i.setAttribute("aria-label", label);
    i.hidden = true; fields.appendChild(i); return i;
  }
  var fName = input("name", T.name), fEmail = input("email", T.email, "email"), fOrder = input("order_number", T.order);
  var text = el("textarea"); text.rows = 2; text.placeholder = T.placeholder; text.setAttribute("aria-label", T.placeholder);
  text.maxLength = 4000;
  var file = el("input"); file.type = "file"; file.accept = "image/png,image/jpeg,image/gif,application/pdf";
  file.className = "cw-file"; file.id = "cw-file";
  // The browser's own file button speaks the browser's language: a label in the visitor's.
  var pick = el("label", "cw-pick", "+ " + T.attach); pick.htmlFor = "cw-file";
  var send = el("button", "cw-send", T.send); send.type = "submit";
  var row = el("div", "cw-row"); row.appendChild(text); row.appendChild(send);
  pick.appendChild(file);
  form.appendChild(fields); form.appendChild(row); form.appendChild(pick);
  var mailer = el("button", "cw-link", T.transcript); mailer.type = "button";
  [head, log, notice, typing, form, mailer].forEach(function (c) { panel.appendChild(c); });
  root.appendChild(panel); root.appendChild(launcher);
  document.body.appendChild(root);

  function show(line, confirmed) {
    if (state.seen["l" + line.id] || (line.client_id && state.seen[line.client_id] === true)) return;
    var pending = line.client_id && state.seen[line.client_id];
    if (pending && !confirmed) return;  // stored once the POST answers, not before
    state.seen["l" + line.id] = true;
    if (line.client_id) state.seen[line.client_id] = true;
    if (line.id > state.last && line.from === "agent") state.last = line.id;
    var li = pending || el("li");
    li.className = "cw-line cw-" + line.from;
    li.textContent = "";
    li.appendChild(el("span", "cw-who", line.from === "agent" ? (line.author || T.agent) : T.you));
    li.appendChild(el("span", "cw-text", line.text + (line.attachment ? (line.text ? "\n" : "") + "[" + line.attachment + "]" : "")));
    if (!pending) log.appendChild(li);
    if (line.from === "agent") typing.textContent = "";
    log.scrollTop = log.scrollHeight;
  }
  function say(msg) { notice.textContent = msg; notice.hidden = !msg; }
  function away() {
    if (state.conf.online || state.conf.visitor.by_email) return;
    var at = state.conf.opens_at ? new Date(state.conf.opens_at).toLocaleString(FR ? "fr-FR" : "en-GB",
      { weekday: "long", hour: "2-digit", minute: "2-digit" }) : "";
    say(T.away + (at ? T.opens.replace("{at}", at) : "") + ".");
    fEmail.hidden = false; fEmail.required = true;
  }
  function listen() {
    var src = new EventSource(BASE + "events?token=" + encodeURIComponent(state.token) + "&after=" + state.last);
    src.addEventListener("line", function (e) { show(JSON.parse(e.data)); });
    src.addEventListener("typing", function (e) {
      var who = JSON.parse(e.data).agent;
      typing.textContent = who ? T.typing.replace("{name}", who) : "";
    });
  }
  function start() {
    return call("hello", { language: FR ? "fr" : "en" }).then(function (r) { return r.json(); }).then(function (conf) {
      if (!conf.token) { say(conf.error || ""); return; }
      state.conf = conf; state.token = conf.token; localStorage.setItem(store, conf.token);
      if (!conf.lines.length) log.appendChild(el("li", "cw-line cw-agent cw-greeting", conf.greeting || T.hello));
      conf.lines.forEach(show);
      var fresh = !conf.lines.length;
      fName.hidden = !(fresh && conf.form.name && !conf.visitor.name);
      fEmail.hidden = !(fresh && conf.form.email && !conf.visitor.email);
      fOrder.hidden = !(fresh && conf.form.order_number);
      away();
      listen();
    });
  }
  function post(body, li, tries) {
    call("messages", body).then(function (r) {
      if (r.status >= 500) throw new Error(String(r.status));
      return r.json().then(function (d) {
        if (d.line) { show(d.line, true); return; }
        li.remove(); delete state.seen[body.id]; say(d.error || "");
        if (r.status === 409) { state.conf.online = false; away(); }
      });
    }).catch(function () {  // network or server failure: the same id again, stored once
      li.lastChild.textContent = body.text + " (" + T.failed + ")";
      window.setTimeout(function () { post(body, li, tries + 1); }, Math.min(30000, 1000 * Math.pow(2, tries)));
    });
  }
  function submit(e) {
    e.preventDefault();
    var body = { id: newId(), text: text.value.trim(), name: fName.value.trim(), email: fEmail.value.trim(), order_number: fOrder.value.trim() };
    if (state.file) body.attachment = state.file;
    if (!body.text && !body.attachment) return;
    if (fEmail.required && !body.email) { say(T.needEmail); fEmail.focus(); return; }
    var li = el("li", "cw-line cw-visitor cw-pending");
    li.appendChild(el("span", "cw-who", T.you));
    li.appendChild(el("span", "cw-text", body.text + " (" + T.sending + ")"));
    log.appendChild(li); state.seen[body.id] = li;
    text.value = ""; file.value = ""; state.file = null; pick.firstChild.textContent = "+ " + T.attach;
    [fName, fOrder].forEach(function (f) { f.hidden = true; });
    if (!fEmail.required) fEmail.hidden = true;
    post(body, li, 0);
  }
  form.addEventListener("submit", submit);
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  text.addEventListener("input", function () {
    if (Date.now() - state.typingAt > 3000) { state.typingAt = Date.now(); call("activity", { what: "typing" }); }
  });
  file.addEventListener("change", function () {
    var f = file.files[0]; state.file = null; say("");
    pick.firstChild.textContent = "+ " + (f ? f.name : T.attach);
    if (!f) return;
    var kb = state.conf ? state.conf.max_attachment_kb : 1024;
    if (f.size > kb * 1024) { say(T.tooBig.replace("{kb}", kb)); file.value = ""; return; }
    if (!/^(image\/(png|jpeg|gif)|application\/pdf)$/.test(f.type)) { say(T.badType); file.value = ""; return; }
    var reader = new FileReader();
    reader.onload = function () { state.file = { name: f.name, type: f.type, data: String(reader.result).split(",")[1] }; };
    reader.readAsDataURL(f);
  });
  mailer.addEventListener("click", function () {
    var email = fEmail.value.trim() || (state.conf && state.conf.visitor.email);
    if (!email) { fEmail.hidden = false; fEmail.focus(); say(T.needEmail); return; }
    call("transcript", { email: email }).then(function (r) {
      if (r.ok) say(T.sent); else r.json().then(function (d) { say(d.error || ""); });
    });
  });
  function toggle(open) {
    panel.hidden = !open; launcher.setAttribute("aria-expanded", String(open));
    if (open) { if (!state.conf) start(); text.focus(); } else launcher.focus();
  }
  launcher.addEventListener("click", function () { toggle(panel.hidden); });
  closer.addEventListener("click", function () { toggle(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
  window.addEventListener("pagehide", function () {
    if (state.conf) navigator.sendBeacon(BASE + "activity", new Blob([JSON.stringify({ token: state.token, what: "left" })], { type: "text/plain" }));
  });
  if (state.token) toggle(true);
})();
