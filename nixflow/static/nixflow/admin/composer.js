/* The reply composer, improved (nixflow.admin.tickets; it works without this file).
   - "Insert" fetches the tool's draft as JSON and fills it in place instead of
     reloading the page; the chosen value goes into the hidden composer_<name> field,
     exactly as the no-script round trip keeps it.
   - Choosing "Internal note" tints the textarea, so a note never looks like a reply.
   Served from our static files: no inline script (the admin's CSP). */
"use strict";
(function () {
    function ready(fn) {
        if (document.readyState !== "loading") {
            fn();
        } else {
            document.addEventListener("DOMContentLoaded", fn);
        }
    }

    function showKind(form) {
        const internal = form.querySelector('input[name="visibility"][value="internal"]');
        form.classList.toggle("nf-is-internal", Boolean(internal && internal.checked));
    }

    function message(form, text, isError) {
        let box = form.querySelector(".nf-composer-notice");
        if (!box) {
            box = document.createElement("p");
            box.className = "nf-composer-notice";
            box.setAttribute("data-testid", "composer-notice");
            form.insertBefore(box, form.querySelector(".nf-composer-kind"));
        }
        box.textContent = text;
        box.classList.toggle("errornote", Boolean(isError));
    }

    function showChanges(form, changes) {
        let list = form.querySelector(".nf-tool-changes");
        if (!list) {
            list = document.createElement("ul");
            list.className = "nf-tool-changes";
            list.setAttribute("data-testid", "tool-changes");
            form.querySelector("textarea").before(list);
        }
        list.replaceChildren();
        changes.forEach(function (change) {
            const item = document.createElement("li");
            item.textContent = "On send — " + change;
            list.append(item);
        });
    }

    function applyDraft(form, name, value, draft) {
        const body = form.querySelector('textarea[name="reply_body"]');
        const current = body.value.replace(/\s+$/, "");
        body.value = current ? current + "\n\n" + draft.body : draft.body;
        body.dispatchEvent(new Event("input", {bubbles: true}));
        const kind = draft.is_internal ? "internal" : "public";
        const radio = form.querySelector('input[name="visibility"][value="' + kind + '"]');
        if (radio) {
            radio.checked = true;
        }
        const kept = form.querySelector('input[name="composer_' + name + '"]');
        if (kept) {
            kept.value = value;
        }
        showChanges(form, draft.changes || []);
        showKind(form);
        message(form, "Inserted. Its changes are made when you send.", false);
        body.focus();
    }

    function insert(form, button, event) {
        const name = button.getAttribute("data-tool");
        const select = form.querySelector('select[name="tool_' + name + '"]');
        if (!select || !window.fetch) {
            return; // the plain submit does it
        }
        event.preventDefault();
        if (!select.value) {
            message(form, "Choose what to insert first.", true);
            return;
        }
        const url = new URL(form.getAttribute("data-draft-url"), window.location.href);
        url.searchParams.set("tool", name);
        url.searchParams.set("value", select.value);
        fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
            .then(function (response) {
                return response.json().then(function (data) {
                    if (!response.ok) {
                        throw new Error(data.error || "Could not insert.");
                    }
                    return data;
                });
            })
            .then(function (draft) {
                applyDraft(form, name, select.value, draft);
            })
            .catch(function (error) {
                message(form, error.message, true);
            });
    }

    ready(function () {
        const form = document.getElementById("reply-composer");
        if (!form) {
            return;
        }
        showKind(form);
        form.addEventListener("change", function (event) {
            if (event.target.name === "visibility") {
                showKind(form);
            }
        });
        form.querySelectorAll("button.nf-insert").forEach(function (button) {
            button.addEventListener("click", function (event) {
                insert(form, button, event);
            });
        });
    });
})();
