// Rule form: each action row shows only the fields its type uses (no inline script: CSP).
(function () {
  "use strict";
  var FIELDS = {
    "": [],
    tag: ["tag"],
    assign_agent: ["user"],
    assign_team: ["team", "strategy"],
    set_priority: ["priority"],
    set_status: ["status"],
    snooze: ["hours"],
    reply_template: ["template"],
    add_note: ["text"],
    notify: ["users", "text"],
    no_response_needed: [],
    open_case: ["case_kind"],
    stop: []
  };

  function fieldName(input) {
    var m = /^actions-\d+-(\w+)$/.exec(input.name || "");
    return m ? m[1] : null;
  }

  function update(row) {
    var select = row.querySelector("select[name$='-type']");
    if (!select) return;
    var wanted = FIELDS[select.value] || [];
    row.querySelectorAll("label").forEach(function (label) {
      var input = label.querySelector("input, select, textarea");
      var name = input ? fieldName(input) : null;
      if (!name || name === "type") return;
      label.hidden = wanted.indexOf(name) === -1;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".rule-form .action-row").forEach(function (row) {
      update(row);
      row.addEventListener("change", function (e) {
        if (e.target && fieldName(e.target) === "type") update(row);
      });
    });
  });
})();
