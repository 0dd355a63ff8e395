// The conversation's action bar and the toasts. Menus are <details> of plain forms: this only
// adds the keyboard (a letter opens a menu, arrows move, Escape closes) and closes the others.
// No inline script, no eval: the CSP forbids both.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }
  function menus() { return Array.from(document.querySelectorAll("details.menu")); }
  function items(menu) {
    return Array.from(menu.querySelectorAll(".menu-panel button, .menu-panel input:not([type=hidden])"))
      .filter(function (el) { return !el.disabled; });
  }
  function closeOthers(menu) {
    menus().forEach(function (m) { if (m !== menu) m.open = false; });
  }
  function openMenu(menu) {
    closeOthers(menu);
    menu.open = true;
    const focus = menu.dataset.focus && menu.querySelector(menu.dataset.focus);
    const target = focus || menu.querySelector(".menu-panel [aria-pressed=true]") || items(menu)[0];
    if (target) target.focus();
  }
  // One menu open at a time ("toggle" does not bubble: listen while it goes down).
  document.addEventListener("toggle", function (event) {
    const menu = event.target;
    if (menu.matches && menu.matches("details.menu") && menu.open) closeOthers(menu);
  }, true);
  document.addEventListener("click", function (event) {
    if (!event.target.closest("details.menu")) closeOthers(null);
    const close = event.target.closest(".toast-close");
    if (close) close.closest(".toast").remove();
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const inMenu = event.target.closest && event.target.closest("details.menu[open]");
    if (inMenu) {
      const all = items(inMenu);
      const index = all.indexOf(event.target);
      if (event.key === "Escape") {
        event.preventDefault();
        inMenu.open = false;
        inMenu.querySelector("summary").focus();
        return;
      }
      if ((event.key === "ArrowDown" || event.key === "ArrowUp") && all.length) {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        all[(index + step + all.length) % all.length].focus();
        return;
      }
    }
    if (typing(event.target) || document.body.dataset.shortcuts === "off") return;
    if (event.key === "z") {
      const undo = document.querySelectorAll(".toast .undo");
      if (undo.length) { event.preventDefault(); undo[undo.length - 1].click(); }
      return;
    }
    const menu = document.querySelector("details.menu[data-key='" + event.key + "']");
    if (menu && /^[a-z]$/.test(event.key)) {
      event.preventDefault();
      openMenu(menu);
    }
  });
  // Enter in a menu's own field presses that field's button, not the form's first one (in the
  // inbox's bulk form the first button is "Assign to me").
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !event.target.closest) return;
    const custom = event.target.closest(".menu-custom");
    const button = custom && event.target.tagName === "INPUT" && custom.querySelector("button");
    if (button) { event.preventDefault(); button.click(); }
  });
  // The bulk bar's count of ticked rows.
  function ticked() { return Array.from(document.querySelectorAll("input[name=ids]:checked")); }
  function showCount() {
    const count = document.getElementById("bulk-count");
    if (!count) return;
    const n = ticked().length;
    count.textContent = n ? count.dataset.some.replace("{n}", n) : count.dataset.none;
    document.getElementById("bulk-bar").classList.toggle("has-selection", n > 0);
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "ids") showCount();
  });
  document.addEventListener("keyup", function (event) { if (event.key === "x") showCount(); });
  // The live refresh replaces the rows: the ticked ones, the row under the cursor (j/k) and the
  // scroll position survive it.
  let kept = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "rows") return;
    const current = document.querySelector("tr.row.selected");
    kept = {
      ids: ticked().map(function (box) { return box.value; }),
      current: current ? current.dataset.href : null,
      x: window.scrollX, y: window.scrollY,
    };
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!kept || !event.detail.target || event.detail.target.id !== "rows") return;
    kept.ids.forEach(function (id) {
      const box = document.querySelector("input[name=ids][value='" + id + "']");
      if (box) box.checked = true;
    });
    if (kept.current) {
      const row = document.querySelector("tr.row[data-href='" + kept.current + "']");
      if (row) row.classList.add("selected");
    }
    window.scrollTo(kept.x, kept.y);
    kept = null;
    showCount();
  });
  showCount();
})();
