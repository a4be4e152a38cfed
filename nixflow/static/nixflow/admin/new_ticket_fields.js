/* The add-ticket page's custom fields (nixflow.admin.fields): only the inputs of the
   fields the chosen workflow has are shown. A field of some workflows names them in its
   input's data-workflows (ids, space separated); a field of every workflow has no such
   input and is always shown. "Default workflow" (an empty choice) stands for the
   workflow list's data-default-workflow.
   The other inputs are hidden (the hidden attribute: out of sight and of the
   accessibility tree) and disabled, so their values are not sent; they keep what was
   typed and come back when their workflow is chosen again. The "Custom fields" section
   is hidden when none of its inputs is shown.
   Without this file the page offers every workflow's fields and the server refuses a
   value for a field the chosen workflow lacks. A static file: the CSP allows no inline
   script. */
"use strict";
(function () {
    function ready(fn) {
        if (document.readyState !== "loading") {
            fn();
        } else {
            document.addEventListener("DOMContentLoaded", fn);
        }
    }

    function chosenWorkflow(chooser) {
        return chooser.value || chooser.getAttribute("data-default-workflow") || "";
    }

    // Each custom field's row once, with the workflows its input names.
    function fieldRows(form) {
        const rows = [];
        form.querySelectorAll("[data-workflows]").forEach(function (input) {
            const row = input.closest(".form-row");
            if (row && !rows.some(function (known) { return known.row === row; })) {
                rows.push({row: row, workflows: input.getAttribute("data-workflows").split(/\s+/)});
            }
        });
        return rows;
    }

    function show(rows, workflow) {
        rows.forEach(function (entry) {
            const applies = entry.workflows.indexOf(workflow) !== -1;
            entry.row.hidden = !applies;
            entry.row.querySelectorAll("input, select, textarea").forEach(function (control) {
                control.disabled = !applies;
            });
        });
        const sections = new Set(rows.map(function (entry) { return entry.row.closest("fieldset"); }));
        sections.forEach(function (section) {
            if (section) {
                section.hidden = !section.querySelector(".form-row:not([hidden])");
            }
        });
    }

    ready(function () {
        const chooser = document.querySelector('select[name="workflow"]');
        if (!chooser || !chooser.form) {
            return;
        }
        const rows = fieldRows(chooser.form);
        if (!rows.length) {
            return;
        }
        function update() {
            show(rows, chosenWorkflow(chooser));
        }
        chooser.addEventListener("change", update);
        // Back to the page from the history: the browser may restore another choice.
        window.addEventListener("pageshow", update);
        update();
    });
})();
