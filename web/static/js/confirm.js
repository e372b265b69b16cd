// Forms with data-confirm ask before submitting (inline onsubmit handlers are blocked by the CSP).
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
