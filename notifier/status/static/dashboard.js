// Refreshes the page in place: fetches this same URL every `data-refresh` seconds and swaps
// the <main id="live"> region, keeping scroll position, open data tables and the search
// box untouched. Paused while the tab is hidden or a form field has the focus. The page
// works without it (a <noscript> meta refresh stands in on the overview).
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh")) || 0;
  if (seconds <= 0) return;
  var running = false;

  function busy() {
    var active = document.activeElement;
    return active !== null && active.closest("form") !== null;
  }

  function refresh() {
    if (running || document.hidden || busy()) return;
    running = true;
    fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (answer) {
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var next = fresh.getElementById("live");
        var current = document.getElementById("live");
        if (next === null || current === null) return;
        var open = Array.prototype.map.call(
          current.querySelectorAll("details[open][id]"), function (d) { return d.id; });
        current.replaceWith(document.adoptNode(next));
        open.forEach(function (id) {
          var details = document.getElementById(id);
          if (details !== null) details.open = true;
        });
        document.title = fresh.title;
        var stamp = fresh.getElementById("updated");
        var shown = document.getElementById("updated");
        if (stamp !== null && shown !== null) shown.textContent = stamp.textContent;
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function (error) {
        var shown = document.getElementById("updated");
        if (shown !== null) shown.textContent = "Refresh failed (" + error.message + "); retrying";
      })
      .finally(function () { running = false; });
  }

  window.setInterval(refresh, seconds * 1000);
})();
