// kadi page behaviour: only the print button (served from the box; the CSP forbids inline scripts).
document.addEventListener("DOMContentLoaded", function () {
  var print = document.getElementById("print");
  if (print) print.addEventListener("click", function () { window.print(); });
});
