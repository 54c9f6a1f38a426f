// Postal code → address preview. The form works without it: the next page shows the
// looked-up address anyway. The code is sent in a POST body, never in a URL.
(function () {
  "use strict";

  function initPostalLookup(input) {
    var result = document.getElementById(input.id + "-result");
    if (!result) return;
    var url = input.getAttribute("data-lookup-url");
    var last = null;

    function lookup() {
      var digits = input.value.normalize("NFKC").replace(/[^0-9]/g, "");
      if (digits.length !== 7) {
        result.textContent = "";
        last = null;
        return;
      }
      if (digits === last) return;
      last = digits;
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ postal_code: digits }),
        credentials: "same-origin"
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (answer) {
        if (digits !== last) return;
        result.textContent = answer.ok && answer.body.found
          ? input.getAttribute("data-found-text") + " " + answer.body.address
          : input.getAttribute("data-not-found-text");
      }).catch(function () { result.textContent = ""; });
    }

    input.addEventListener("input", lookup);
    lookup();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-postal-lookup]").forEach(initPostalLookup);
  });
})();
