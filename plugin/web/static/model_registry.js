/* The model registry pages: menus, dialogs, the semantic-version check, artifact uploads and
 * deletes. No dependencies, no inline script. Uses package_api's static/modelshelf.js:
 * Modelshelf.fetch (sends X-CSRF-Token), Modelshelf.confirm (the page's dialog), Modelshelf.csrfToken.
 * The upload zones are artifact_uploads.js's (loaded after this script; each zone's element holds
 * its uploader as ``zone.uploader``, which the new-version form drives).
 *
 *   details[data-dropdown]        a menu; closes on a click elsewhere or Escape
 *   [data-open-dialog="id"]       opens <dialog id="id">
 *   input[data-semver]            checked against SemVer 2.0 as it is typed and on submit
 *   form[data-version-form]       with queued artifacts: checks them, creates the version through
 *                                 the API, then uploads them, then opens the version
 *   [data-artifacts]              the artifact list: checkboxes, [data-delete-artifacts], and folder
 *                                 rows ([data-folder-toggle]) that fold their files away
 */
(function () {
  "use strict";

  // The regular expression semver.org gives for SemVer 2.0 (the server checks with the semver library).
  var SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
  var SEMVER_MESSAGE = "Version must be a semantic version (for example 1.4.0 or 2.0.0-rc.1)";
  var FIX_ARTIFACTS = "Fix or remove the artifacts marked in red first: nothing was created.";
  var UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

  /** A size as the pages' ``filesize`` filter writes it: "1 byte", "512 bytes", "1.5 MiB". */
  function fileSize(size) {
    if (size < 1024) {
      return size === 1 ? "1 byte" : size + " bytes";
    }
    var value = size;
    var unit = 0;
    do {
      value /= 1024;
      unit += 1;
    } while (value >= 1024 && unit < UNITS.length - 1);
    return value.toFixed(1) + " " + UNITS[unit];
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  /** The human part of a GitLab-style error body: {"message": "400 Bad request - why"} or {"error": "why"}. */
  function apiError(status, text) {
    var message = "";
    try {
      var body = JSON.parse(text);
      message = String(body.message || body.error || "");
    } catch (ignored) {
      message = "";
    }
    message = message.replace(/^\d{3} [A-Za-z ]+? - /, "");
    if (!message || /^\d{3} /.test(message)) {
      message = status ? "The server answered " + status : "The server did not answer";
    }
    return message.charAt(0).toUpperCase() + message.slice(1);
  }

  function show(element, text) {
    if (!element) {
      return;
    }
    element.textContent = text;
    element.hidden = !text;
  }

  function alertBox(element, kind, text) {
    element.className = "alert alert-" + kind;
    show(element, text);
  }

  // -- menus and dialogs (copy buttons are modelshelf.js's [data-clipboard]) ----------------

  function closeMenus(except) {
    document.querySelectorAll("details[data-dropdown][open]").forEach(function (menu) {
      if (menu !== except) {
        menu.removeAttribute("open");
      }
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }
    closeMenus(target.closest("details[data-dropdown]"));

    var opener = target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      closeMenus();
      if (dialog && typeof dialog.showModal === "function") {
        dialog.showModal();
      }
      return;
    }

    // A click on a dialog's backdrop (outside its box; its padding is the dialog too) closes it.
    if (target instanceof HTMLDialogElement && target.id !== "confirm-dialog") {
      var box = target.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) {
        target.close();
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      closeMenus();
    }
  });

  // -- the version field ------------------------------------------------------------------------

  /** Show whether ``input`` holds a semantic version; return true when it does. */
  function checkVersion(input, submitting) {
    var error = input.form.querySelector("[data-version-error]");
    var value = input.value.trim();
    var message = "";
    if (!value) {
      message = submitting ? "Version is required" : "";
    } else if (!SEMVER.test(value)) {
      message = SEMVER_MESSAGE;
    }
    show(error, message);
    if (message) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
    return !message;
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target instanceof HTMLInputElement && target.matches("[data-semver]")) {
      checkVersion(target, false);
    }
  });

  // -- the new-version form -------------------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("[data-version-form]")) {
      return;
    }
    var input = form.querySelector("[data-semver]");
    var uploader = form.querySelector("[data-upload-zone]") && form.querySelector("[data-upload-zone]").uploader;
    if (!checkVersion(input, true)) {
      event.preventDefault();
      input.focus();
      return;
    }
    if (uploader && uploader.items.length && !uploader.ready()) {
      event.preventDefault(); // no version without its artifacts: the form waits for a fix
      show(document.querySelector("[data-form-alert]"), FIX_ARTIFACTS);
      if (uploader.subfolder.getAttribute("aria-invalid")) {
        uploader.subfolder.focus();
      }
      return;
    }
    if (!uploader || !uploader.pending().length) {
      return; // a plain POST: the server answers, and re-renders the form with any error
    }
    event.preventDefault();
    createThenUpload(form, input, uploader);
  });

  function createThenUpload(form, input, uploader) {
    var submit = form.querySelector("[type=submit]");
    var alert = document.querySelector("[data-form-alert]");
    var label = submit.textContent;
    submit.disabled = true;
    submit.textContent = "Creating…";
    show(alert, "");
    var value = input.value.trim();
    var body = JSON.stringify({ version: value, description: form.querySelector("[name=description]").value });
    window.Modelshelf.fetch(form.getAttribute("data-api-url"), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body
    }).then(function (response) {
      return response.text().then(function (text) {
        return { status: response.status, text: text };
      });
    }).then(function (answer) {
      if (answer.status !== 201) {
        var message = answer.status === 409 ? "Version " + value + " already exists" : apiError(answer.status, answer.text);
        if (answer.status === 409 || /^Version /.test(message)) {
          show(form.querySelector("[data-version-error]"), message);
          input.setAttribute("aria-invalid", "true");
          input.focus();
        } else {
          show(alert, message);
        }
        submit.disabled = false;
        submit.textContent = label;
        return;
      }
      var version = JSON.parse(answer.text);
      var showPath = version._links.show_path;
      // The API's links are absolute (BASE_URL); the page talks to its own origin.
      uploader.importPath = new URL(version._links.import_path, window.location.href).pathname;
      submit.textContent = "Uploading…";
      form.querySelectorAll("input, textarea").forEach(function (field) { field.readOnly = true; });
      uploader.run().then(function (summary) {
        if (!summary.failed) {
          window.location.assign(showPath + "?tab=artifacts");
          return;
        }
        var link = document.createElement("a");
        link.href = showPath + "?tab=artifacts";
        link.textContent = "Open version " + value;
        alertBox(uploader.result, summary.done ? "warning" : "danger",
          "Version " + value + " was created, but " + plural(summary.failed, "artifact") + " could not be uploaded. ");
        uploader.result.appendChild(link);
        submit.textContent = "Created";
      });
    }, function () {
      show(alert, "The server did not answer. Try again.");
      submit.disabled = false;
      submit.textContent = label;
    });
  }

  // -- the artifact list ----------------------------------------------------------------------------

  function selectedBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-artifact-select]:checked"));
  }

  function updateSelection() {
    var button = document.querySelector("[data-delete-artifacts]");
    if (!button) {
      return;
    }
    var boxes = document.querySelectorAll("[data-artifact-select]");
    var selected = selectedBoxes().length;
    button.disabled = selected === 0;
    button.querySelector("[data-selected-count]").textContent = selected ? "(" + selected + ")" : "";
    var all = document.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && selected === boxes.length;
      all.indeterminate = selected > 0 && selected < boxes.length;
    }
  }

  // Folders folded away, by path: they stay folded when the list is refreshed.
  var folded = {};

  function fold(toggle, closed) {
    var group = toggle.closest("tbody[data-folder]");
    toggle.setAttribute("aria-expanded", closed ? "false" : "true");
    group.querySelectorAll("tr[data-file-name]").forEach(function (row) { row.hidden = closed; });
    folded[group.getAttribute("data-folder")] = closed;
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target instanceof Element ? event.target.closest("[data-folder-toggle]") : null;
    if (toggle) {
      fold(toggle, toggle.getAttribute("aria-expanded") === "true");
    }
  });

  /** Swap the artifact list (and its count) for the server's current one. */
  function refreshArtifacts() {
    var current = document.querySelector("[data-artifacts]");
    if (!current) {
      return Promise.resolve();
    }
    var url = new URL(window.location.href);
    url.searchParams.set("tab", "artifacts");
    return window.Modelshelf.fetch(url.toString(), { headers: { Accept: "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-artifacts]");
        if (!fresh) {
          return;
        }
        current.replaceWith(document.adoptNode(fresh));
        fresh.querySelectorAll("[data-folder-toggle]").forEach(function (toggle) {
          if (folded[toggle.closest("tbody[data-folder]").getAttribute("data-folder")]) {
            fold(toggle, true);
          }
        });
        var count = document.querySelector('[data-tab-count="artifacts"]');
        if (count) {
          count.textContent = fresh.getAttribute("data-file-count");
        }
        updateSelection();
      });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) {
      return;
    }
    if (target.matches("[data-select-all]")) {
      document.querySelectorAll("[data-artifact-select]").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches("[data-select-all], [data-artifact-select]")) {
      updateSelection();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-delete-artifacts]") : null;
    if (!button) {
      return;
    }
    var boxes = selectedBoxes();
    if (!boxes.length) {
      return;
    }
    var names = boxes.map(function (box) { return box.closest("[data-file-name]").getAttribute("data-file-name"); });
    var message = boxes.length === 1
      ? "Artifact " + names[0] + " will be deleted. This cannot be undone."
      : boxes.length + " artifacts will be deleted: " + names.join(", ") + ". This cannot be undone.";
    var alert = document.querySelector("[data-artifacts-alert]");
    window.Modelshelf.confirm(message, { title: "Delete artifacts?", confirmLabel: "Delete" }).then(function (confirmed) {
      if (!confirmed) {
        return;
      }
      button.disabled = true;
      var ids = boxes.map(function (box) { return Number(box.value); });
      window.Modelshelf.fetch(button.getAttribute("data-url"), {
        method: "DELETE",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ids: ids })
      }).then(function (response) {
        if (response.status === 204) {
          alertBox(alert, "success", plural(ids.length, "artifact") + " deleted: " + names.join(", ") + ".");
          return refreshArtifacts();
        }
        return response.text().then(function (text) {
          alertBox(alert, "danger", "The artifacts could not be deleted: " + apiError(response.status, text));
          return refreshArtifacts();
        });
      }, function () {
        alertBox(alert, "danger", "The server did not answer. Nothing was deleted.");
        button.disabled = false;
      });
    });
  });

  // -- start ----------------------------------------------------------------------------------------

  function start() {
    updateSelection();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  // What artifact_uploads.js (loaded after this script) uses, and the tests.
  window.ModelRegistry = {
    fileSize: fileSize,
    semver: SEMVER,
    plural: plural,
    apiError: apiError,
    show: show,
    alertBox: alertBox,
    refreshArtifacts: refreshArtifacts
  };
})();
