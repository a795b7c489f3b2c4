/* Modelshelf pages: confirm dialogs and a CSRF-aware fetch. No dependencies, no inline script.
 *
 * For plugin pages:
 *   Modelshelf.csrfToken()                   the session's CSRF token (from <meta name="csrf-token">)
 *   Modelshelf.fetch(url, options)           fetch() that sends the cookie and, for methods that
 *                                            change state, the X-CSRF-Token header
 *   Modelshelf.confirm(message, {title, confirmLabel})   Promise<boolean> from the page's dialog
 *   <form method="post" data-confirm="…" data-confirm-title="…" data-confirm-button="Delete">
 *                                            asks before submitting
 *   <button type="button" data-clipboard="#selector">Copy</button>
 *                                            copies that input's value (says "Copied" for a moment)
 */
(function () {
  "use strict";

  var SAFE_METHODS = ["GET", "HEAD", "OPTIONS", "TRACE"];

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function csrfFetch(url, options) {
    options = Object.assign({}, options || {});
    var method = (options.method || "GET").toUpperCase();
    var headers = new Headers(options.headers || {});
    if (SAFE_METHODS.indexOf(method) === -1) {
      headers.set("X-CSRF-Token", csrfToken());
    }
    options.headers = headers;
    options.credentials = "same-origin";
    return window.fetch(url, options);
  }

  function confirmDialog(message, settings) {
    settings = settings || {};
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(message));
    }
    dialog.querySelector("[data-confirm-title]").textContent = settings.title || "Are you sure?";
    dialog.querySelector("[data-confirm-message]").textContent = message;
    dialog.querySelector("[data-confirm-accept]").textContent = settings.confirmLabel || "Delete";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () {
        resolve(dialog.returnValue === "confirm");
      }, { once: true });
      dialog.showModal();
      dialog.querySelector("[data-confirm-cancel]").focus();
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) {
      return;
    }
    event.preventDefault();
    confirmDialog(form.dataset.confirm, {
      title: form.dataset.confirmTitle,
      confirmLabel: form.dataset.confirmButton
    }).then(function (confirmed) {
      if (confirmed) {
        form.submit(); // does not fire "submit" again
      }
    });
  });

  // Clicking the backdrop of the dialog cancels it.
  document.addEventListener("click", function (event) {
    var dialog = document.getElementById("confirm-dialog");
    if (dialog && event.target === dialog) {
      dialog.close("cancel");
    }
  });

  function copyValue(input, button) {
    var label = button.textContent;
    var done = function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    };
    var fallback = function () {
      input.focus();
      input.select();
      if (document.execCommand("copy")) {
        done();
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-clipboard]") : null;
    var input = button ? document.querySelector(button.getAttribute("data-clipboard")) : null;
    if (input) {
      copyValue(input, button);
    }
  });

  window.Modelshelf = { csrfToken: csrfToken, fetch: csrfFetch, confirm: confirmDialog };
})();
