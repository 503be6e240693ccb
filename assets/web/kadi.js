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
