// Keyboard shortcuts for agents (see the "?" dialog; the action bar's are in desk.js). No inline
// script: the CSP forbids it.
(function () {
  "use strict";
  function typing(event) {
    const el = event.target;
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }
  function rows() { return Array.from(document.querySelectorAll("tr.row")); }
  // The row holding the keyboard focus (after a Tab), else the one j/k last marked.
  function current() {
    const focused = document.activeElement && document.activeElement.closest("tr.row");
    return focused || document.querySelector("tr.row.selected");
  }
  // j/k move the focus itself (to the row's subject link), not only a highlight: a screen
  // reader reads the row and Enter opens it.
  function select(row) {
    rows().forEach((r) => r.classList.remove("selected"));
    if (!row) return;
    row.classList.add("selected");
    const link = row.querySelector("td a[href]");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }
  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(current());
    select(all[Math.min(all.length - 1, Math.max(0, index + step))] || all[0]);
  }
  function click(selector) { const el = document.querySelector(selector); if (el) el.click(); }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    // The user's preference (profile page): no single-key shortcut at all.
    if (document.body.dataset.shortcuts === "off") return;
    const key = event.key;
    if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "o" || key === "Enter") {
      const row = current();
      if (row) window.location = row.dataset.href;
    } else if (key === "r") {
      const box = document.getElementById("composer");
      if (box) { event.preventDefault(); box.focus(); }
    } else if (key === "n") {
      const note = document.getElementById("note-mode");
      const box = document.getElementById("composer");
      if (note && box) { event.preventDefault(); note.checked = true; box.focus(); }
    } else if (key === "x") {
      const box = current() && current().querySelector("input[type=checkbox]");
      if (box) box.checked = !box.checked;
    } else if (key === "a") click("#assign-me");
    else if (key === "e") click("#resolve");
    else if (key === "/") {
      const search = document.getElementById("search");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (key === "?") {
      const dialog = document.getElementById("shortcuts");
      if (dialog) dialog.showModal();
    } else return;
  });
  // Live: the server says which conversations changed; the part of the page showing them is
  // fetched again (the inbox rows, or this conversation's timeline).
  const live = document.body.dataset.live;
  if (live && window.EventSource && window.htmx) {
    const source = new EventSource(live);
    window.__comptoirLive = source;
    source.addEventListener("changed", function (event) {
      const changed = JSON.parse(event.data).conversations;
      if (document.getElementById("rows")) {
        window.htmx.ajax("GET", window.location.href, { target: "#rows", select: "#rows > *", swap: "innerHTML" });
      }
      const shown = document.querySelector("[data-conversation]");
      if (shown && changed.includes(Number(shown.dataset.conversation))) {
        window.htmx.ajax("GET", window.location.href, { target: ".timeline", select: ".timeline > *", swap: "innerHTML" });
      }
    });
  }
  // Presence: this page tells the server the agent is here (every 20 s) or writing (as they
  // type, with the draft saved), and shows who else is on this conversation.
  const page = document.querySelector("[data-presence]");
  function csrf() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function post(url, fields, beacon) {
    const body = new FormData();
    body.append("csrfmiddlewaretoken", csrf());
    Object.keys(fields).forEach((k) => body.append(k, fields[k]));
    if (beacon && navigator.sendBeacon) return navigator.sendBeacon(url, body);
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrf() } });
  }
  if (page) {
    const box = document.getElementById("composer");
    let writing = false;
    let timer = null;
    window.setInterval(function () {
      post(page.dataset.presence, { state: writing ? "replying" : "viewing" });
    }, 20000);
    window.addEventListener("pagehide", function () {
      post(page.dataset.presence, { state: "left" }, true);
    });
    if (box) {
      // Sending: the answer is no longer a draft (a save still waiting would bring it back).
      if (box.form) box.form.addEventListener("submit", function () { window.clearTimeout(timer); });
      box.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          const mode = document.getElementById("note-mode");
          writing = box.value.trim() !== "";
          post(page.dataset.draft, { text: box.value, mode: mode && mode.checked ? "note" : "reply" });
        }, 800);
      });
    }
  }
  function showPresence(present) {
    const el = document.getElementById("presence");
    if (!el) return;
    el.textContent = present.map(function (p) {
      const phrase = p.state === "replying" ? el.dataset.replying : el.dataset.viewing;
      return phrase.replace("{name}", p.name);
    }).join(" · ");
  }
  if (window.__comptoirLive) window.__comptoirLive.addEventListener("presence", function (event) {
    showPresence(JSON.parse(event.data));
  });
  // A chat's visitor (typing, here, away, left), told by the live stream as it changes; while
  // the stream is down, the line asks the server itself every 20 s.
  const chatStatus = document.getElementById("chat-status");
  function showVisitor(v) {
    let text = v.state === "typing" ? chatStatus.dataset.typing
      : v.state === "left" ? chatStatus.dataset.left.replace("{at}", v.left_at)
      : v.state === "here" ? chatStatus.dataset.here : chatStatus.dataset.away;
    if (v.email) text += " · " + chatStatus.dataset.email.replace("{email}", v.email);
    chatStatus.textContent = "";
    const span = document.createElement("span");
    if (v.state === "typing") span.className = "chat-typing";
    span.textContent = text;
    chatStatus.appendChild(span);
  }
  if (chatStatus) {
    if (window.__comptoirLive) window.__comptoirLive.addEventListener("visitor", function (event) {
      showVisitor(JSON.parse(event.data));
    });
    window.setInterval(function () {
      const source = window.__comptoirLive;
      if (window.htmx && (!source || source.readyState !== 1)) window.htmx.trigger(chatStatus, "chat-poll");
    }, 20000);
  }
  // Destructive buttons ask first (no inline onclick: the CSP forbids it).
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  // The settings menu marks the page it is on (the longest link that starts the path).
  const tabs = Array.from(document.querySelectorAll(".settings-nav a"))
    .filter(function (a) { return window.location.pathname.startsWith(a.getAttribute("href")); })
    .sort(function (a, b) { return b.getAttribute("href").length - a.getAttribute("href").length; });
  if (tabs.length) tabs[0].setAttribute("aria-current", "page");
  document.addEventListener("click", function (event) {
    const row = event.target.closest && event.target.closest("tr.row");
    if (row && !event.target.closest("a, input")) window.location = row.dataset.href;
  });
})();

// The header's links fold behind "Menu" on a phone (app.css); the button only shows with script,
// so without it the links stay in view.
(function () {
  "use strict";
  const button = document.querySelector(".menu-toggle");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    button.setAttribute("aria-expanded", String(button.getAttribute("aria-expanded") !== "true"));
  });
})();

// Settings fields that only matter for some choice of another field (a mailbox's password with
// password sign-in) are hidden otherwise. Without script they stay, their hint saying when
// they are ignored; the server ignores them then too.
(function () {
  "use strict";
  const dependants = Array.from(document.querySelectorAll("[data-only-when]"));
  if (!dependants.length) return;
  function update() {
    dependants.forEach(function (el) {
      const form = el.closest("form");
      const control = form && form.elements.namedItem(el.dataset.onlyWhen);
      if (!control) return;
      const shown = el.dataset.onlyValues.split(" ").includes(control.value);
      el.hidden = !shown;
      el.querySelectorAll("input").forEach(function (input) { input.disabled = !shown; });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.name && document.querySelector('[data-only-when="' + event.target.name + '"]')) update();
  });
  update();
})();

// File fields (web/_file_pick.html): the page's own button and the chosen files' names, in the
// page's language; the browser's control, which speaks the browser's, is hidden only from here.
(function () {
  "use strict";
  function show(input) {
    const names = document.getElementById(input.id + "-names");
    if (!names) return;
    const files = Array.from(input.files || []).map(function (f) { return f.name; });
    names.textContent = files.length ? files.join(", ") : names.dataset.none;
    names.classList.toggle("chosen", files.length > 0);
  }
  document.querySelectorAll(".file-pick").forEach(function (pick) {
    const input = pick.querySelector("input[type=file]");
    const names = pick.querySelector(".file-names");
    if (!input || !names) return;
    pick.classList.add("ready");
    names.hidden = false;
    show(input); // a file kept by the browser on going back
    input.addEventListener("change", function () { show(input); });
    if (input.form) input.form.addEventListener("reset", function () { setTimeout(function () { show(input); }); });
  });
})();
