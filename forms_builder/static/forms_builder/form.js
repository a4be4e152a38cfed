// Progressive enhancement: hide the fields whose condition is not met. Without this
// script every field is shown with its condition in words, and the server ignores the
// answers of fields whose condition was not met.
(function () {
  "use strict";
  var TRUE_WORDS = ["true", "yes", "on", "1", "checked"];
  var form = document.querySelector("form[data-nf-form]");
  if (!form) { return; }
  var dependents = form.querySelectorAll("[data-visible-when-field]");

  function answers(key) {
    var inputs = form.querySelectorAll("[name='" + key + "']");
    var values = [];
    inputs.forEach(function (input) {
      if (input.disabled) { return; }
      if (input.type === "checkbox" || input.type === "radio") {
        if (input.checked) { values.push(input.value); }
      } else {
        values.push(input.value.trim());
      }
    });
    return { inputs: inputs, values: values };
  }

  function isShown(key) {
    var wrapper = document.getElementById("field-" + key);
    return !wrapper || !wrapper.hidden;
  }

  function matches(key, expected) {
    var found = answers(key);
    if (!found.inputs.length || !isShown(key)) { return false; }
    var first = found.inputs[0];
    if (first.type === "checkbox" && found.inputs.length === 1) {
      return (found.values.length > 0) === (TRUE_WORDS.indexOf(expected.toLowerCase()) >= 0);
    }
    if (first.type === "checkbox") { return found.values.indexOf(expected) >= 0; }
    var value = found.values.length ? found.values[0] : "";
    if (first.tagName === "SELECT" || first.type === "radio") { return value === expected; }
    return value.toLowerCase() === expected.trim().toLowerCase();
  }

  function update() {
    // Until nothing changes: a field can depend on one that just appeared or went.
    var changed = true;
    for (var pass = 0; changed && pass <= dependents.length; pass++) {
      changed = false;
      dependents.forEach(function (wrapper) {
        var shown = matches(wrapper.dataset.visibleWhenField, wrapper.dataset.visibleWhenValue);
        if (wrapper.hidden === shown) { changed = true; }
        wrapper.hidden = !shown;
        wrapper.querySelectorAll("input, select, textarea").forEach(function (input) {
          input.disabled = !shown;
        });
        var note = wrapper.querySelector(".condition");
        if (note) { note.hidden = true; }
      });
    }
  }

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
