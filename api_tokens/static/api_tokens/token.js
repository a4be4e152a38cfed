// The one-time page of a new API token: "Copy" puts the string on the clipboard.
// A file, not an inline script: the Content-Security-Policy allows only our own files.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("api-token-copy");
  var field = document.getElementById("api-token-secret");
  if (!button || !field) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    field.select();
    var done = function () {
      button.textContent = button.dataset.copied;
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done);
    } else if (document.execCommand("copy")) {
      done();
    }
  });
});
