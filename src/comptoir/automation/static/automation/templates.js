// The template editor: a variable picked from the list goes in where the cursor is, and the
// answer is previewed on the server as it is typed (for the conversation picked), with its
// pre-send checks. Without this script the "Preview" button shows the same after a reload.
(function () {
  "use strict";

  function setUp(form) {
    form.classList.add("js");
    var target = form.querySelector(".version textarea");
    var editing = "";
    var preview = document.getElementById("template-preview");
    var timer = null;
    var sequence = 0;

    form.addEventListener("focusin", function (e) {
      var field = e.target;
      var version = field && field.closest ? field.closest(".version") : null;
      if (!version) return;
      if (field.tagName === "TEXTAREA" || field.tagName === "INPUT") target = field;
      editing = version.getAttribute("data-language") || "";
    });

    function insert(text) {
      if (!target) return;
      var start = target.selectionStart || 0;
      var end = target.selectionEnd || start;
      target.value = target.value.slice(0, start) + text + target.value.slice(end);
      target.focus();
      target.setSelectionRange(start + text.length, start + text.length);
      target.dispatchEvent(new Event("input", { bubbles: true }));
    }

    form.querySelectorAll(".var-insert").forEach(function (button) {
      // Keep the cursor where it was in the text: a click would otherwise move the focus.
      button.addEventListener("mousedown", function (e) { e.preventDefault(); });
      button.addEventListener("click", function () { insert(button.getAttribute("data-insert")); });
    });

    function refresh() {
      if (!preview) return;
      var data = new FormData(form);
      data.set("preview", "1");
      data.set("editing", editing);
      var mine = ++sequence;
      fetch(form.getAttribute("action") || window.location.pathname, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-Fragment": "preview" }
      }).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html !== null && mine === sequence) preview.innerHTML = html;
      }).catch(function () { /* the next keystroke tries again */ });
    }

    function later() {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 350);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
    var button = document.getElementById("preview-button");
    if (button) {
      button.addEventListener("click", function (e) {
        e.preventDefault();
        refresh();
      });
    }
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("template-form");
    if (form) setUp(form);
  });
})();
