// kadi page behaviour (served from the box; the CSP forbids inline scripts). Everything here only
// enhances: each link and form also works without JavaScript.
document.addEventListener("DOMContentLoaded", function () {
  // The card page's Print: a record pending review asks first (without JavaScript the link goes
  // through the confirmation page instead); then the browser's print dialog, on this page.
  var print = document.getElementById("print");
  if (print) print.addEventListener("click", function (event) {
    event.preventDefault();
    if (print.getAttribute("data-pending") === "yes" &&
        !window.confirm("This record waits for a review: it may be the same person as another record. Print the card anyway?")) {
      return;
    }
    window.print();
  });
  var printNow = document.getElementById("print-now");
  if (printNow) printNow.addEventListener("click", function () { window.print(); });
});
// s10-m: the print task page moves its bar between the page's own refreshes (the page works
// without this: it refreshes itself every 3 s while the task runs).
document.addEventListener("DOMContentLoaded", function () {
  var task = document.getElementById("task");
  if (!task || !window.fetch) return;
  var st = task.getAttribute("data-status");
  if (st !== "pending" && st !== "generating") return;
  var id = task.getAttribute("data-task");
  function poll() {
    fetch("/dhis2/tasks/" + encodeURIComponent(id), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (t) {
        var bar = document.getElementById("task-progress");
        if (bar) bar.value = t.progress;
        var s = document.getElementById("task-status");
        if (s) s.textContent = t.status;
        var c = document.getElementById("task-count");
        if (c) c.textContent = t.cards_generated + " of " + t.total_cards + " cards (" + t.progress + " %)" +
          (t.eta_seconds != null ? " · about " + Math.ceil(t.eta_seconds) + " s left" : "");
        if (t.status === "done" || t.status === "failed") { window.location.reload(); return; }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
});
