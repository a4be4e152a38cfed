/* "New request": suggested articles appear as the requester types a subject. Without
   this script the "Find answers" button asks the server for the same fragment. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-suggest-url]");
  if (!form || !window.fetch) { return; }
  var subject = form.querySelector("#new-subject");
  var target = document.getElementById("suggestions");
  var attempt = form.querySelector("input[name=attempt]");
  var button = form.querySelector(".find-answers");
  if (!subject || !target || !attempt) { return; }
  if (button) { button.hidden = true; }
  var timer = null;
  var last = subject.value.trim();
  function ask() {
    var text = subject.value.trim();
    if (text === last) { return; }
    last = text;
    if (text.length < 3) { target.innerHTML = ""; return; }
    var url = form.getAttribute("data-suggest-url") + "?subject=" + encodeURIComponent(text) +
      "&attempt=" + encodeURIComponent(attempt.value);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null && subject.value.trim() === text) { target.innerHTML = html; } })
      .catch(function () { if (button) { button.hidden = false; } });
  }
  subject.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 400);
  });
}());
