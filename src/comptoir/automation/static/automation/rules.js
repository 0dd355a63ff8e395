// The rule builder: each row shows only the fields its test or action uses, and rows are added
// and removed in place. Without this script the page's submit buttons do the same on the
// server. No inline script (CSP): the field lists come from json_script elements.
(function () {
  "use strict";

  function fieldsFor(prefix) {
    var node = document.getElementById(prefix + "-fields");
    return node ? JSON.parse(node.textContent) : {};
  }

  function update(row, fields) {
    var select = row.querySelector("select[name$='-type']");
    if (!select) return;
    var wanted = fields[select.value] || [];
    row.querySelectorAll(".row-field").forEach(function (label) {
      label.hidden = wanted.indexOf(label.getAttribute("data-field")) === -1;
    });
  }

  function addRow(prefix, fields) {
    var total = document.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
    var empty = document.getElementById(prefix + "-empty");
    var list = document.getElementById(prefix === "conditions" ? "condition-rows" : "action-rows");
    if (!total || !empty || !list) return;
    var index = parseInt(total.value, 10) || 0;
    var holder = document.createElement("ol");
    holder.innerHTML = empty.innerHTML.replace(/__prefix__/g, String(index));
    var row = holder.firstElementChild;
    list.appendChild(row);
    total.value = String(index + 1);
    update(row, fields);
    var type = row.querySelector("select[name$='-type']");
    if (type) type.focus();
  }

  function depthOf(row) {
    return parseInt(row.getAttribute("data-depth") || "0", 10) || 0;
  }

  function clearRow(row) {
    // Emptied rather than taken out: the numbering of the other rows stays as it is, and the
    // server ignores a row without a type.
    var type = row.querySelector("select[name$='-type']");
    if (type) type.value = "";
    row.hidden = true;
  }

  function removeRow(row) {
    // A group's row goes with the rows indented under it (its content).
    var depth = depthOf(row);
    var next = row.nextElementSibling;
    clearRow(row);
    while (next && depthOf(next) > depth) {
      clearRow(next);
      next = next.nextElementSibling;
    }
  }

  function setUp(form) {
    form.classList.add("js");
    ["conditions", "actions"].forEach(function (prefix) {
      var fields = fieldsFor(prefix);
      form.querySelectorAll("." + prefix + "-row").forEach(function (row) { update(row, fields); });
      var add = form.querySelector("button[name='add_" + prefix + "']");
      if (add) {
        add.addEventListener("click", function (e) {
          e.preventDefault();
          addRow(prefix, fields);
        });
      }
    });
    form.addEventListener("change", function (e) {
      var target = e.target;
      if (!target || !/-type$/.test(target.name || "")) return;
      var row = target.closest(".builder-row");
      if (row) update(row, fieldsFor(row.getAttribute("data-prefix")));
    });
    form.addEventListener("click", function (e) {
      var button = e.target && e.target.closest ? e.target.closest(".row-remove") : null;
      if (!button) return;
      e.preventDefault();
      removeRow(button.closest(".builder-row"));
    });
  }

  // "Dry run" refreshes the panel beside the form without leaving the page; a form the server
  // refuses is submitted the ordinary way, to show its errors where they belong.
  function dryRunInPlace(form) {
    var button = form.querySelector("button[name='dry_run']");
    var panel = document.getElementById("dry-run-panel");
    if (!button || !panel || !window.fetch || !window.DOMParser) return;
    button.addEventListener("click", function (e) {
      e.preventDefault();
      var data = new FormData(form);
      data.set("dry_run", "1");
      panel.setAttribute("aria-busy", "true");
      fetch(form.getAttribute("action") || window.location.pathname, {
        method: "POST", body: data, credentials: "same-origin"
      }).then(function (response) { return response.text(); }).then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("dry-run-panel");
        if (page.querySelector("#rule-form .errorlist") || !fresh || !fresh.querySelector(".dry-run")) {
          // Still a dry run (never a save): the button's name goes along as a field.
          var flag = document.createElement("input");
          flag.type = "hidden";
          flag.name = "dry_run";
          flag.value = "1";
          form.appendChild(flag);
          HTMLFormElement.prototype.submit.call(form);
          return;
        }
        panel.innerHTML = fresh.innerHTML;
        panel.removeAttribute("aria-busy");
      }).catch(function () { panel.removeAttribute("aria-busy"); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("rule-form");
    if (form) {
      setUp(form);
      dryRunInPlace(form);
    }
  });
})();
