/* The artifact upload zones of the model registry pages: a subfolder, a drop zone and a file
 * input. No dependencies, no inline script. Uses model_registry.js's helpers (window.ModelRegistry),
 * artifact_paths.js (window.ArtifactPaths: the server's rules for file paths) and package_api's
 * Modelshelf.csrfToken; loaded after them.
 *
 *   [data-upload-zone]   data-mode="immediate" uploads on drop or select (the version page);
 *                        "queue" waits for the new-version form, which checks the queue again
 *                        (ready()), creates the version, then run()s the uploads. A file the server
 *                        would refuse (its size, its name, the subfolder) is never sent: its row
 *                        turns red and says why, and the form creates no version until it is fixed
 *                        or removed. The zone's element holds its uploader (zone.uploader).
 */
(function () {
  "use strict";

  var registry = window.ModelRegistry;
  var fileSize = registry.fileSize;
  var plural = registry.plural;
  var apiError = registry.apiError;
  var show = registry.show;
  var alertBox = registry.alertBox;
  var refreshArtifacts = registry.refreshArtifacts;

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
    var message = window.ArtifactPaths.subfolderMessage(this.folder());
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

  /** Take dropped or selected files: refuse them all for a bad subfolder, and each one that is too
   *  large or whose name the server would refuse (nothing of it is sent). */
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
        item.refusal = "size";
        this.setState(item, "rejected",
          "File " + files[i].name + " is " + fileSize(files[i].size) + ". It is larger than max allowed size of " + this.maxSizeLabel);
      } else {
        this.checkPath(item);
      }
    }
    if (!this.queueing) {
      this.run();
    }
  };

  /** Refuse ``item`` if the server would refuse its path (its name, in the subfolder as it is now),
   *  or take it back when a new subfolder fixed that; return true when it may be sent. */
  Uploader.prototype.checkPath = function (item) {
    var message = window.ArtifactPaths.fileMessage(item.folder === null ? this.folder() : item.folder, item.file.name);
    if (message) {
      item.refusal = "path";
      this.setState(item, "rejected", message);
    } else if (item.state === "rejected" && item.refusal === "path") {
      item.refusal = null;
      this.setState(item, "queued", "Uploads when the version is created");
    }
    return !message;
  };

  /** Before the version is created: the subfolder and every file again (the subfolder may have
   *  changed since they were added); return true when every file in the list may be sent. */
  Uploader.prototype.ready = function () {
    var self = this;
    if (!self.checkSubfolder()) {
      return false;
    }
    self.items.forEach(function (item) {
      if (item.state === "queued" || item.refusal === "path") {
        self.checkPath(item);
      }
    });
    return !self.items.some(function (item) { return item.state === "rejected"; });
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

    var item = { file: file, folder: folder, element: element, progress: progress, cancel: cancel, status: status, xhr: null, reported: false, refusal: null };
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
    // A refused file waiting for the version form can be removed from the list, to go on without it.
    var removable = this.queueing && state === "rejected" && !this.running;
    item.cancel.hidden = state !== "queued" && state !== "uploading" && !removable;
  };

  Uploader.prototype.cancel = function (item) {
    if (item.state === "uploading" && item.xhr) {
      item.xhr.abort(); // onabort marks it cancelled
    } else if ((item.state === "queued" || item.state === "rejected") && this.queueing && !this.running) {
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

  function start() {
    var zones = document.querySelectorAll("[data-upload-zone]");
    zones.forEach(function (zone) {
      zone.uploader = new Uploader(zone);
      // Shown only now (the page renders it hidden): a file chosen before would have been lost.
      var section = zone.closest("[data-upload-section]");
      if (section) {
        section.hidden = false;
      }
      zone.hidden = false;
    });
    if (zones.length) {
      // A file dropped beside the zone must not replace the page.
      ["dragover", "drop"].forEach(function (name) {
        window.addEventListener(name, function (event) { event.preventDefault(); });
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
