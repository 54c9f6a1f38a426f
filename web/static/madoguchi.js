// Small improvements for pages that work without JavaScript.
(function () {
  "use strict";

  // Error summary (GOV.UK pattern): move focus to it, and make its links focus the field
  // while scrolling its label or legend into view.
  function initErrorSummary(summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) return;
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) return;
      event.preventDefault();
      var legend = input.closest("fieldset") && input.closest("fieldset").querySelector("legend");
      var label = document.querySelector("label[for='" + input.id + "']");
      (legend || label || input).scrollIntoView();
      input.focus({ preventScroll: true });
    });
  }

  // Buttons that print the page (the printable pre-registration sheet).
  function initPrint(button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-module='error-summary']").forEach(initErrorSummary);
    document.querySelectorAll("[data-print]").forEach(initPrint);
  });
})();
