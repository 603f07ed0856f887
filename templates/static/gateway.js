/* Small enhancements; every page works without them (README "Pages").
   - Focus the error summary of the form that failed (autofocus does it too, where supported).
   - "Afficher" next to a password: switch the field between hidden and clear in place (aria-pressed),
     instead of posting the form as it does without JavaScript. */
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary && document.activeElement !== summary) {
    summary.focus();
  }
  Array.prototype.forEach.call(document.querySelectorAll("button.reveal"), function (button) {
    var input = document.getElementById(button.getAttribute("aria-controls"));
    if (!input) { return; }
    button.type = "button";
    button.addEventListener("click", function () {
      var shown = input.type === "password";
      input.type = shown ? "text" : "password";
      button.setAttribute("aria-pressed", shown ? "true" : "false");
    });
  });
}());
