/* Visit forms (templates/visits/_fields.html): show a field only when its `relevant` holds.
 *
 * data-relevant holds the parsed expression of webapp/visits/definitions.py: a list of
 * clauses (any), each a list of conditions (all) {field, op: "=" | "!=" | "selected", value}.
 * A hidden field is disabled, so the browser does not judge it and the outbox does not send
 * it; it counts as empty for later fields. is_relevant() in definitions.py is the twin of
 * holds() here: change both or neither.
 *
 * HTML cannot require "at least one" of a group of checkboxes: a required select_many sets a
 * custom validity message on its first box while none is ticked.
 */
(function () {
  "use strict";

  var strings = JSON.parse((document.getElementById("i18n") || {}).textContent || "{}");

  function valueOf(box) {
    var inputs = Array.prototype.slice.call(box.querySelectorAll("input, select, textarea"));
    if (box.dataset.type === "select_many") {
      return inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.value; });
    }
    if (inputs.length && inputs[0].type === "radio") {
      var checked = inputs.filter(function (i) { return i.checked; })[0];
      return checked ? checked.value : "";
    }
    return inputs.length ? inputs[0].value : "";
  }

  function holds(condition, values) {
    var value = values[condition.field];
    if (condition.op === "selected") {
      return Array.isArray(value) ? value.indexOf(condition.value) >= 0 : value === condition.value;
    }
    var text = value == null ? "" : Array.isArray(value) ? value.join(",") : String(value);
    return condition.op === "=" ? text === condition.value : text !== condition.value;
  }

  function update(form) {
    var values = {};
    form.querySelectorAll("[data-field]").forEach(function (box) {
      var clauses = box.dataset.relevant ? JSON.parse(box.dataset.relevant) : null;
      var shown = !clauses || clauses.some(function (clause) {
        return clause.every(function (condition) { return holds(condition, values); });
      });
      box.hidden = !shown;
      box.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !shown; });
      if (shown) { values[box.dataset.field] = valueOf(box); }
      if (box.dataset.type === "select_many" && box.hasAttribute("data-required")) {
        var first = box.querySelector("input[type=checkbox]");
        var none = !box.querySelector("input[type=checkbox]:checked");
        if (first) { first.setCustomValidity(shown && none ? (strings.choose_one || "Choose at least one.") : ""); }
      }
    });
  }

  function start() {
    document.querySelectorAll("form[data-visit-form]").forEach(function (form) {
      var again = function () { update(form); };
      form.addEventListener("input", again);
      form.addEventListener("change", again);
      form.addEventListener("outbox:filled", again);
      update(form);
    });
  }

  window.DoorstepVisitForms = { update: update };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
