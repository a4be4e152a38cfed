/* The rule page's rows (automation/forms.py): add a row, and show what a row needs.
   A condition shows the chosen field's values (or a text box) and no value for
   "is empty"; an action shows its type's parameters only. A static file: the CSP allows
   no inline script. Without it the page still works: every input is shown. */
(function () {
  "use strict";

  var NO_VALUE = ["is_empty", "is_not_empty"];
  var LIST_VALUE = ["in", "not_in"];

  function cell(input) {
    return input ? input.closest(".rule-cell") : null;
  }

  function show(element, visible) {
    if (element) {
      element.hidden = !visible;
    }
  }

  function updateCondition(row) {
    var field = row.querySelector("select.rule-field");
    var op = row.querySelector("select.rule-op");
    var choice = row.querySelector("select.rule-value-choice");
    if (!field || !op || !choice) {
      return;
    }
    var prefix = field.value + "=";
    var offered = 0;
    Array.prototype.forEach.call(choice.querySelectorAll("optgroup"), function (group) {
      var any = false;
      Array.prototype.forEach.call(group.querySelectorAll("option"), function (option) {
        var mine = option.value.indexOf(prefix) === 0;
        option.hidden = !mine;
        any = any || mine;
      });
      group.hidden = !any;
      if (any) {
        offered += 1;
      }
    });
    if (choice.value && choice.value.indexOf(prefix) !== 0) {
      choice.value = "";
    }
    var none = NO_VALUE.indexOf(op.value) !== -1;
    var list = LIST_VALUE.indexOf(op.value) !== -1;
    var text = row.querySelector("[name$='-value']");
    show(cell(choice), !none && offered > 0 && !list);
    show(cell(text), !none && (offered === 0 || list));
  }

  function updateAction(row) {
    var type = row.querySelector("select.rule-action-type");
    if (!type) {
      return;
    }
    Array.prototype.forEach.call(row.querySelectorAll("[data-action-types]"), function (input) {
      var types = input.getAttribute("data-action-types").split(" ");
      show(cell(input), type.value !== "" && types.indexOf(type.value) !== -1);
    });
  }

  function wire(row) {
    var update = function () {
      updateCondition(row);
      updateAction(row);
    };
    row.addEventListener("change", function (event) {
      if (event.target.name && /-DELETE$/.test(event.target.name)) {
        row.classList.toggle("rule-row-removed", event.target.checked);
      }
      update();
    });
    update();
  }

  function addRow(fieldset) {
    var kind = fieldset.getAttribute("data-rows");
    var total = fieldset.querySelector("input[name='" + kind + "-TOTAL_FORMS']");
    var max = fieldset.querySelector("input[name='" + kind + "-MAX_NUM_FORMS']");
    var template = fieldset.querySelector("template.rule-row-template");
    var index = parseInt(total.value, 10);
    if (max && index >= parseInt(max.value, 10)) {
      return;
    }
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
    var row = holder.firstElementChild;
    fieldset.querySelector(".rule-row-list").appendChild(row);
    total.value = String(index + 1);
    wire(row);
    var first = row.querySelector("select, input, textarea");
    if (first) {
      first.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".rule-rows"), function (fieldset) {
      Array.prototype.forEach.call(fieldset.querySelectorAll(".rule-row-list > .rule-row"), wire);
      var button = fieldset.querySelector(".rule-add-row");
      if (button) {
        button.addEventListener("click", function () {
          addRow(fieldset);
        });
      }
    });
  });
})();
