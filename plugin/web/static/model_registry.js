/* The model registry pages: menus, dialogs, the semantic-version check, artifact uploads and
 * deletes. No dependencies, no inline script. Uses package_api's static/modelshelf.js:
 * Modelshelf.fetch (sends X-CSRF-Token), Modelshelf.confirm (the page's dialog), Modelshelf.csrfToken.
 *
 *   details[data-dropdown]        a menu; closes on a click elsewhere or Escape
 *   [data-open-dialog="id"]       opens <dialog id="id">
 *   input[data-semver]            checked against SemVer 2.0 as it is typed and on submit
 *   form[data-version-form]       with queued artifacts: creates the version through the API, then
 *                                 uploads them, then opens the version
 *   [data-upload-zone]            subfolder + drop zone + file input; data-mode="immediate" uploads
 *                                 on drop or select, "queue" waits for the version form
 *   [data-artifacts]              the artifact list: checkboxes and [data-delete-artifacts]
 */
(function () {
  "use strict";

  // The regular expression semver.org gives for SemVer 2.0 (the server checks with the semver library).
  var SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
  var SEMVER_MESSAGE = "Version must be a semantic version (for example 1.4.0 or 2.0.0-rc.1)";
  var SUBFOLDER_MESSAGE = "Subfolder cannot contain spaces";
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

  // -- uploads ------------------------------------------------------------------------------------

  function Uploader(zone) {
    this.zone = zone;
    this.queueing = zone.getAttribute("data-mode") === "queue";
    this.maxSize = Number(zone.getAttribute("data-max-file-size"));
    this.maxSizeLabel = zone.getAttribute("data-max-file-size-label") || fileSize(this.maxSize);
    this.importPath = zone.getAttribute("data-import-path") || "";
    this.list = zone.querySelector("[data-upload-list]");
    this.result = zone.querySelector("[data-upload-result]");
    this.subfolder = zone.querySelector("[data-subfolder]");
    this.subfolderError = zone.querySelector("[data-subfolder-error]");
    this.dropzone = zone.querySelector("[data-dropzone]");
    this.input = zone.querySelector("[data-file-input]");
    this.items = [];
    this.running = null;
    this.bind();
    if (this.subfolder.value) {
      this.checkSubfolder(); // typed before this script ran
    }
    if (this.input.files.length) {
      // Chosen before this script ran (a slow page, or files the browser restored): take them now.
      this.add(this.input.files);
      this.input.value = "";
    }
  }

  Uploader.prototype.bind = function () {
    var self = this;
    ["dragenter", "dragover"].forEach(function (name) {
      self.dropzone.addEventListener(name, function (event) {
        event.preventDefault();
        if (event.dataTransfer) {
          event.dataTransfer.dropEffect = "copy";
        }
        self.dropzone.classList.add("is-dragover");
      });
    });
    self.dropzone.addEventListener("dragleave", function (event) {
      if (!self.dropzone.contains(event.relatedTarget)) {
        self.dropzone.classList.remove("is-dragover");
      }
    });
    self.dropzone.addEventListener("drop", function (event) {
      event.preventDefault();
      self.dropzone.classList.remove("is-dragover");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        self.add(event.dataTransfer.files);
      }
    });
    self.input.addEventListener("change", function () {
      if (self.input.files.length) {
        self.add(self.input.files);
      }
      self.input.value = ""; // selecting the same file again fires "change" again
    });
    self.subfolder.addEventListener("input", function () {
      self.checkSubfolder();
    });
  };

  /** Show whether the subfolder is acceptable; return true when it is. */
  Uploader.prototype.checkSubfolder = function () {
    var message = /\s/.test(this.subfolder.value) ? SUBFOLDER_MESSAGE : "";
    show(this.subfolderError, message);
    if (message) {
      this.subfolder.setAttribute("aria-invalid", "true");
    } else {
      this.subfolder.removeAttribute("aria-invalid");
    }
    return !message;
  };

  Uploader.prototype.folder = function () {
    return this.subfolder.value.replace(/^\/+|\/+$/g, "");
  };

  /** Take dropped or selected files: refuse them all for a bad subfolder, each one that is too large. */
  Uploader.prototype.add = function (files) {
    if (!this.checkSubfolder()) {
      this.subfolder.focus();
      return;
    }
    show(this.result, "");
    var folder = this.queueing ? null : this.folder();
    for (var i = 0; i < files.length; i += 1) {
      var item = this.render(files[i], folder);
      this.items.push(item);
      if (files[i].size > this.maxSize) {
        this.setState(item, "rejected",
          "File " + files[i].name + " is " + fileSize(files[i].size) + ". It is larger than max allowed size of " + this.maxSizeLabel);
      }
    }
    if (!this.queueing) {
      this.run();
    }
  };

  Uploader.prototype.render = function (file, folder) {
    var self = this;
    var element = document.createElement("li");
    element.className = "upload-item";
    element.setAttribute("data-testid", "upload-item");
    var name = document.createElement("span");
    name.className = "upload-item-name";
    name.textContent = (folder ? folder + "/" : "") + file.name;
    var size = document.createElement("span");
    size.className = "upload-item-size";
    size.textContent = fileSize(file.size);
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", "Upload of " + file.name);
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn btn-tertiary";
    cancel.textContent = this.queueing ? "Remove" : "Cancel";
    cancel.setAttribute("aria-label", cancel.textContent + " " + file.name);
    var status = document.createElement("span");
    status.className = "upload-item-status";
    element.append(name, size, progress, status, cancel);
    this.list.appendChild(element);

    var item = { file: file, folder: folder, element: element, progress: progress, cancel: cancel, status: status, xhr: null, reported: false };
    this.setState(item, "queued", this.queueing ? "Uploads when the version is created" : "Waiting");
    cancel.addEventListener("click", function () {
      self.cancel(item);
    });
    return item;
  };

  Uploader.prototype.setState = function (item, state, text) {
    item.state = state;
    item.element.setAttribute("data-state", state);
    item.status.textContent = text;
    item.cancel.hidden = state !== "queued" && state !== "uploading";
  };

  Uploader.prototype.cancel = function (item) {
    if (item.state === "uploading" && item.xhr) {
      item.xhr.abort(); // onabort marks it cancelled
    } else if (item.state === "queued" && this.queueing && !this.running) {
      item.element.remove();
      this.items.splice(this.items.indexOf(item), 1);
    } else if (item.state === "queued") {
      this.setState(item, "cancelled", "Cancelled");
    }
  };

  Uploader.prototype.pending = function () {
    return this.items.filter(function (item) { return item.state === "queued"; });
  };

  Uploader.prototype.urlFor = function (item) {
    var folder = item.folder === null ? this.folder() : item.folder;
    var prefix = folder ? folder.split("/").map(encodeURIComponent).join("/") + "/" : "";
    return this.importPath + prefix + encodeURIComponent(item.file.name);
  };

  /** Upload every queued file, one after another; resolve with the batch's summary. */
  Uploader.prototype.run = function () {
    var self = this;
    if (self.running) {
      return self.running;
    }
    var next = function () {
      var item = self.pending()[0];
      return item ? self.upload(item).then(next) : Promise.resolve();
    };
    self.running = next().then(function () {
      self.running = null;
      return self.finish();
    });
    return self.running;
  };

  Uploader.prototype.upload = function (item) {
    var self = this;
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      item.xhr = xhr;
      self.setState(item, "uploading", "Uploading… 0%");
      xhr.open("PUT", self.urlFor(item));
      xhr.setRequestHeader("X-CSRF-Token", window.Modelshelf.csrfToken());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable && item.state === "uploading") {
          var percent = Math.floor((event.loaded / event.total) * 100);
          item.progress.value = percent;
          item.status.textContent = "Uploading… " + percent + "%";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status === 201) {
          item.progress.value = 100;
          self.setState(item, "done", "Uploaded");
        } else {
          self.setState(item, "failed", apiError(xhr.status, xhr.responseText));
        }
        resolve();
      });
      xhr.addEventListener("error", function () {
        self.setState(item, "failed", "The upload did not reach the server");
        resolve();
      });
      xhr.addEventListener("abort", function () {
        self.setState(item, "cancelled", "Cancelled");
        resolve();
      });
      xhr.send(item.file);
    });
  };

  /** Report the files not reported yet: success, partial failure or failure. */
  Uploader.prototype.finish = function () {
    var batch = this.items.filter(function (item) { return !item.reported; });
    batch.forEach(function (item) { item.reported = true; });
    var done = batch.filter(function (item) { return item.state === "done"; });
    var failed = batch.filter(function (item) { return item.state === "failed" || item.state === "rejected"; });
    var names = failed.map(function (item) { return item.file.name; }).join(", ");
    var attempted = done.length + failed.length;
    if (done.length && !failed.length) {
      alertBox(this.result, "success", plural(done.length, "artifact") + " uploaded successfully.");
    } else if (done.length) {
      alertBox(this.result, "warning", "Uploaded " + done.length + " of " + plural(attempted, "artifact") + ". Failed: " + names + ".");
    } else if (failed.length) {
      alertBox(this.result, "danger", (failed.length === 1 ? "The artifact" : "The artifacts") + " could not be uploaded: " + names + ".");
    } else if (batch.length) {
      alertBox(this.result, "info", "Upload cancelled.");
    }
    var summary = { done: done.length, failed: failed.length };
    if (done.length && !this.queueing) {
      return refreshArtifacts().then(function () { return summary; });
    }
    return Promise.resolve(summary);
  };

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
    if (!uploader || !uploader.pending().length) {
      return; // a plain POST: the server answers, and re-renders the form with any error
    }
    event.preventDefault();
    if (!uploader.checkSubfolder()) {
      uploader.subfolder.focus();
      return;
    }
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
    var zones = document.querySelectorAll("[data-upload-zone]");
    zones.forEach(function (zone) {
      zone.uploader = new Uploader(zone);
    });
    if (zones.length) {
      // A file dropped beside the zone must not replace the page.
      ["dragover", "drop"].forEach(function (name) {
        window.addEventListener(name, function (event) { event.preventDefault(); });
      });
    }
    updateSelection();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  window.ModelRegistry = { fileSize: fileSize, semver: SEMVER };
})();
