/* The artifact paths the server stores, checked in the browser before anything is sent, with
 * messages that say what is allowed. No dependencies, no inline script; loaded before
 * model_registry.js, which uses window.ArtifactPaths.
 *
 * These rules mirror package_api/names.py file_path(value, spaces_in_name=True) EXACTLY: the rule of
 * the model registry's file endpoints (PUT .../packages/ml_models/:id/files/<path>), which the upload
 * zones send to. A change there must be made here too: tests/browser/test_artifact_uploads.py
 * compares the two, path by path, and fails when they disagree.
 *
 *   problem(path)                 names.file_path's verdict: "" (stored) or why not, as a code
 *   subfolderMessage(folder)      what the Subfolder field says ("" when files may go there)
 *   fileMessage(folder, name)     what a file's row says ("" when it may be uploaded there)
 */
(function () {
  "use strict";

  // names.FILE_NAME_RE, GitLab's generic_package_file_name_regex: no leading or trailing "~".
  var SEGMENT = /^(?!~)[A-Za-z0-9._+~-]+(?<!~)$/;
  var MAX_PATH_LENGTH = 1024; // names.MAX_PATH_LENGTH, in characters (code points, as Python counts)
  var MAX_PATH_DEPTH = 32; // names.MAX_PATH_DEPTH, segments with the file name
  var FOLDER_CHARACTERS = "letters, digits, “.”, “_”, “-”, “+” and “~” (“~” not first or last), with “/” between folders";
  var NAME_CHARACTERS = "letters, digits, spaces, “.”, “_”, “-”, “+” and “~” (“~” not first or last)";

  function length(text) {
    return Array.from(text).length;
  }

  /**
   * Why names.file_path(path, spaces_in_name=True) refuses ``path``, or "" when it takes it:
   * "empty", "long", "deep", "dots" (an empty, "." or ".." segment), "separator" (a "\" or NUL),
   * "folder" (a folder's characters) or "name" (the file name's characters).
   */
  function problem(path) {
    if (!path) {
      return "empty";
    }
    if (length(path) > MAX_PATH_LENGTH) {
      return "long";
    }
    var segments = path.split("/");
    if (segments.length > MAX_PATH_DEPTH) {
      return "deep";
    }
    if (segments.some(function (s) { return s === "" || s === "." || s === ".."; })) {
      return "dots";
    }
    if (segments.some(function (s) { return s.indexOf("\\") !== -1 || s.indexOf("\u0000") !== -1; })) {
      return "separator";
    }
    var name = segments.pop().replace(/ /g, "_"); // spaces_in_name: only the file name may have spaces
    if (!segments.every(function (s) { return SEGMENT.test(s); })) {
      return "folder";
    }
    return SEGMENT.test(name) ? "" : "name";
  }

  /** What the Subfolder field says about ``folder`` (slashes at its ends already trimmed). */
  function subfolderMessage(folder) {
    if (!folder) {
      return "";
    }
    // The folder as a file in it would be stored: its own problems, whatever the file's name.
    switch (problem(folder + "/f")) {
      case "":
        return "";
      case "long":
        return "Subfolder is too long: with the file name, a path has at most " + MAX_PATH_LENGTH + " characters";
      case "deep":
        return "Subfolder is nested too deep: at most " + (MAX_PATH_DEPTH - 1) + " folders";
      case "dots":
        return "Subfolder cannot contain “.” or “..” folders nor “//”: name a folder inside the version, such as config or weights/v2";
      case "separator":
        return "Subfolder separates folders with “/”, not “\\”";
      default:
        if (/\s/.test(folder)) {
          return "Subfolder cannot contain spaces: use " + FOLDER_CHARACTERS;
        }
        return "Subfolder can contain only " + FOLDER_CHARACTERS;
    }
  }

  /** What a file's row says when ``name`` cannot be stored in ``folder`` ("" when it can). */
  function fileMessage(folder, name) {
    var path = (folder ? folder + "/" : "") + name;
    var found = problem(path);
    if (!found) {
      return "";
    }
    var inFolder = subfolderMessage(folder);
    if (inFolder) {
      return inFolder;
    }
    if (found === "long") {
      return "The path " + path + " is longer than " + MAX_PATH_LENGTH + " characters: shorten the file name or the subfolder";
    }
    return "File name " + name + " can contain only " + NAME_CHARACTERS + ": rename the file and add it again";
  }

  window.ArtifactPaths = { problem: problem, subfolderMessage: subfolderMessage, fileMessage: fileMessage };
})();
