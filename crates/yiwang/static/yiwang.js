// Sends the session's CSRF token with every htmx request, as the JSON API requires.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});

// Guide pages: larger text for older residents (remembered), and printing.
document.addEventListener("click", function (event) {
  var action = event.target.getAttribute && event.target.getAttribute("data-action");
  if (action === "large-text") {
    var on = document.body.classList.toggle("large-text");
    try { localStorage.setItem("yiwang-large-text", on ? "1" : "0"); } catch (e) {}
  } else if (action === "print") {
    window.print();
  }
});
document.addEventListener("DOMContentLoaded", function () {
  try {
    if (localStorage.getItem("yiwang-large-text") === "1") { document.body.classList.add("large-text"); }
  } catch (e) {}
});

// Keyboard-first forms (the hotline console): Ctrl+Enter submits.
document.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    var form = event.target.closest && event.target.closest("form[data-submit-on-ctrl-enter]");
    if (form) { form.requestSubmit(); }
  }
});
