// The reply composer: templates inserted from the picker or by ";shortcut", and the pre-send
// checks run on demand, while typing and before sending. No inline script (CSP).
(function () {
  "use strict";
  const form = document.getElementById("composer-form");
  if (!form) return;
  const box = document.getElementById("composer");
  const templateId = document.getElementById("template-id");
  const checks = document.getElementById("presend-checks");
  const sends = Array.from(form.querySelectorAll("button.send"));
  let checkedText = null; // the text the shown checks are about
  let blocking = false;
  let timer = null;

  function isNote() {
    const note = document.getElementById("note-mode");
    return note && note.checked;
  }
  function setBlocking(value) {
    blocking = value && !isNote();
    sends.forEach((b) => { b.disabled = blocking; });
  }
  function readChecks() {
    const root = checks.querySelector(".checks");
    setBlocking(!!root && root.dataset.blocking === "1");
    return root ? Number(root.dataset.count || 0) : 0;
  }

  function runChecks() {
    const text = box.value;
    const data = new FormData(form);
    return fetch(form.dataset.checkUrl, { method: "POST", body: data, credentials: "same-origin" })
      .then((r) => r.text())
      .then((html) => {
        checks.innerHTML = html;
        checkedText = text;
        return readChecks();
      });
  }

  function insert(text, id) {
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    if (!box.value.trim()) box.value = text;
    else box.value = box.value.slice(0, start) + text + box.value.slice(end);
    if (id) templateId.value = id;
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // The picker's "Insert" button (in an htmx fragment: delegated).
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-insert-template]");
    if (!button) return;
    const source = document.querySelector(".template-text[data-template='" + button.dataset.insertTemplate + "']");
    if (!source) return;
    insert(source.value, button.dataset.insertTemplate);
    const picker = document.getElementById("template-picker");
    if (picker) picker.open = false;
    runChecks();
  });

  // A knowledge-base article, as text or as a link: inserted, no template recorded.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-insert-article]");
    if (!button) return;
    const source = document.querySelector("[data-article-text='" + button.dataset.insertArticle + "']");
    if (!source) return;
    insert(source.value, null);
    runChecks();
  });

  // Alt+1, Alt+2, Alt+3: the suggested answer of that rank, as if its chip were clicked.
  document.addEventListener("keydown", function (event) {
    // The code, not the key: Alt+1 types another character on some layouts.
    const rank = { Digit1: "1", Digit2: "2", Digit3: "3" }[event.code];
    if (!event.altKey || !rank) return;
    const chip = document.querySelector(".suggestion[data-rank='" + rank + "']");
    if (!chip) return;
    event.preventDefault();
    chip.click();
  });

  // ";where" then space, Tab or Enter: the template with that shortcut replaces it.
  box.addEventListener("keydown", function (event) {
    if (![" ", "Tab", "Enter"].includes(event.key)) return;
    const upto = box.value.slice(0, box.selectionStart);
    const match = upto.match(/(^|\s);([a-z0-9_-]+)$/i);
    if (!match) return;
    event.preventDefault();
    const shortcut = match[2];
    const url = form.dataset.expandUrl + "?shortcut=" + encodeURIComponent(shortcut);
    fetch(url, { credentials: "same-origin" })
      .then((r) => r.json().then((body) => ({ ok: r.ok, body: body })))
      .then(({ ok, body }) => {
        if (!ok) {
          if (event.key === " ") insert(" ", null);
          return;
        }
        if (body.missing && body.missing.length) {
          // Variables to fill first: show the template in the picker.
          const picker = document.getElementById("template-picker");
          if (picker) picker.open = true;
          if (window.htmx) window.htmx.ajax("GET", body.preview_url, { target: "#template-preview" });
          return;
        }
        const at = box.selectionStart - shortcut.length - 1;
        box.value = box.value.slice(0, at) + box.value.slice(box.selectionStart);
        box.selectionStart = box.selectionEnd = at;
        insert(body.text, String(body.template_id));
        runChecks();
      });
  });

  // Checks while typing (after a pause) and before sending.
  box.addEventListener("input", function () {
    clearTimeout(timer);
    if (!box.value.trim()) templateId.value = "";
    timer = setTimeout(runChecks, 700);
  });
  form.addEventListener("change", function (event) {
    if (event.target.name === "mode") { setBlocking(blocking); runChecks(); }
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target === checks) { checkedText = box.value; readChecks(); }
    if (event.target.id === "ai-draft") fillDraft(event.target);
  });

  // "Draft with AI": the drafted text replaces the box's, its checks move under the box.
  function fillDraft(target) {
    const text = target.querySelector(".ai-draft-text");
    if (!text) return;
    box.value = text.value;
    templateId.value = "";
    text.remove();
    const found = target.querySelector(".checks");
    checks.innerHTML = "";
    if (found) checks.appendChild(found);
    checkedText = box.value;
    readChecks();
    box.focus();
  }
  form.addEventListener("submit", function (event) {
    if (isNote()) return;
    if (checkedText === box.value && !blocking) return; // checked as it is: send
    event.preventDefault();
    const submitter = event.submitter;
    // Warnings (shown while typing) do not hold the answer back; a blocking result does.
    runChecks().then(() => {
      if (!blocking) form.requestSubmit(submitter);
    });
  });
})();

// The WhatsApp template picker: only the chosen template's text and parameter fields show,
// its text filled in as the agent types. Without script every text and field stays in view.
(function () {
  "use strict";
  const select = document.getElementById("wa-template");
  if (!select) return;
  const bodies = Array.from(document.querySelectorAll(".wa-bodies li"));
  const fields = Array.from(document.querySelectorAll(".wa-params [data-param]"));
  const originals = new Map(bodies.map(function (li) { return [li, li.querySelector(".wa-body").textContent]; }));
  function update() {
    const option = select.selectedOptions[0];
    const count = Number(option ? option.dataset.params : 0);
    fields.forEach(function (label) {
      const shown = Number(label.dataset.param) <= count;
      label.hidden = !shown;
      label.querySelector("input").disabled = !shown;
      label.querySelector("input").required = shown;
    });
    const legend = document.querySelector(".wa-params");
    if (legend) legend.hidden = count === 0;
    bodies.forEach(function (li) {
      li.hidden = li.dataset.template !== select.value;
      if (li.hidden) return;
      li.querySelector(".wa-body").textContent = originals.get(li).replace(/\{\{(\d+)\}\}/g, function (all, n) {
        const input = document.querySelector('[name="wa_param_' + n + '"]');
        return input && input.value ? input.value : all;
      });
    });
  }
  select.addEventListener("change", update);
  fields.forEach(function (label) { label.querySelector("input").addEventListener("input", update); });
  update();
})();
