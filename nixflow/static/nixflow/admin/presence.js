/* Who else is here: the ticket page's heartbeat (docs/collision.md).
 *
 * The "Who else is here" panel (nixflow/admin/presence.py) renders the list on the
 * server and hands this script its endpoint, the CSRF token, the ticket's version and
 * newest public comment as the page was loaded, and the heartbeat, in data- attributes
 * (the CSP allows no inline script). Every beat POSTs {composing} to
 * /api/tickets/{key}/presence/ and redraws the list from the answer; typing in the reply
 * composer (#reply-composer textarea) beats at once with composing=true. When the
 * answer's newest public comment (or version) differs from the page's, a warning asks
 * the agent to reload before replying. Leaving the page says so (DELETE, keepalive).
 */
(function () {
  "use strict";

  var panel = document.querySelector(".nf-presence[data-url]");
  if (!panel || !window.fetch) {
    return;
  }
  var url = panel.dataset.url;
  var csrf = panel.dataset.csrf;
  var loadedVersion = panel.dataset.version;
  var loadedComment = panel.dataset.comment;
  var heartbeat = (parseInt(panel.dataset.heartbeat, 10) || 10) * 1000;
  // Typing counts as writing a reply for this long after the last key, and while the box
  // keeps a draft the agent has touched in that time.
  var COMPOSING_MS = 60000;
  var list = panel.querySelector(".nf-presence-list");
  var nobody = panel.querySelector(".nf-presence-none");
  var changed = panel.querySelector(".nf-presence-changed");
  var changedText = panel.querySelector(".nf-presence-changed-text");
  var lastTyped = 0;
  var sentComposing = false;
  var timer = null;
  var stopped = false;

  function replyBox() {
    return (
      document.querySelector('#reply-composer textarea[name="reply_body"]') ||
      document.querySelector("#reply-composer textarea")
    );
  }

  function composing() {
    var box = replyBox();
    return Boolean(box && box.value.trim() && Date.now() - lastTyped < COMPOSING_MS);
  }

  function draw(others) {
    list.textContent = "";
    others.forEach(function (other) {
      var item = document.createElement("li");
      item.className = other.composing ? "nf-presence-composing" : "nf-presence-viewing";
      item.textContent = other.name + (other.composing ? " is writing a reply" : " is viewing");
      list.appendChild(item);
    });
    nobody.hidden = others.length > 0;
  }

  function warn(answer) {
    var comment = answer.newest_public_comment_id;
    var newComment = String(comment === null ? "" : comment) !== loadedComment;
    if (newComment) {
      changedText.textContent =
        "This ticket has a new public reply since you opened it: read it before you answer.";
    } else if (String(answer.version) !== loadedVersion) {
      changedText.textContent = "This ticket was changed since you opened it.";
    } else {
      changed.hidden = true;
      return;
    }
    changed.hidden = false;
    changed.classList.toggle("nf-presence-new-reply", newComment);
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!stopped) {
      timer = window.setTimeout(beat, heartbeat);
    }
  }

  function beat() {
    var now = composing();
    sentComposing = now;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrf,
      },
      body: JSON.stringify({ composing: now }),
    })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          stopped = true; // signed out, or the ticket is gone: nothing to show any more
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (answer) {
        if (answer) {
          draw(answer.others);
          warn(answer);
        }
      })
      .catch(function () {
        /* offline for a moment: the next beat tries again */
      })
      .then(schedule);
  }

  document.addEventListener("input", function (event) {
    if (event.target === replyBox()) {
      lastTyped = Date.now();
      if (composing() !== sentComposing) {
        beat(); // others learn at once, not at the next beat
      }
    }
  });

  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      stopped = false; // back from the browser's page cache: here again
      beat();
    }
  });

  window.addEventListener("pagehide", function () {
    stopped = true;
    fetch(url, {
      method: "DELETE",
      credentials: "same-origin",
      keepalive: true,
      headers: { "X-CSRFToken": csrf },
    }).catch(function () {});
  });

  changed.querySelector("a").addEventListener("click", function (event) {
    event.preventDefault();
    window.location.reload();
  });

  schedule();
})();
