/* The page at the MLflow tracking URI (templates/model_registry/mlflow_link.html). MLflow prints
 * links such as <tracking URI>/#/experiments/3/runs/<run id>; the fragment never reaches the server,
 * so this script reads it and opens the page it names:
 *   #/experiments/<id>                  the experiment's page
 *   #/experiments/<id>/runs/<run id>    the run's page (anything after it, a tab, is dropped)
 *   #/models...                         the model registry
 *   anything else, or nothing           the experiments
 * Refused (signed out), it only makes the sign-in link come back here with the fragment. */
(function () {
  "use strict";

  var RUN = /^\/experiments\/(\d+)\/runs\/([0-9a-f]{32})(?:[/?].*)?$/i;
  var EXPERIMENT = /^\/experiments\/(\d+)(?:[/?].*)?$/;
  var MODELS = /^\/models(?:[/?].*)?$/;

  function target(fragment, urls) {
    var path = fragment.replace(/^#/, "");
    var match = RUN.exec(path);
    if (match) {
      return urls.runsUrl + "/" + match[2].toLowerCase();
    }
    match = EXPERIMENT.exec(path);
    if (match) {
      return urls.experimentsUrl + "/" + String(parseInt(match[1], 10));
    }
    return MODELS.test(path) ? urls.modelsUrl : urls.experimentsUrl;
  }

  var root = document.querySelector("[data-mlflow-link]");
  if (!root) {
    return;
  }
  var signIn = root.querySelector("[data-sign-in]");
  if (signIn) {
    if (window.location.hash) {
      var back = window.location.pathname + window.location.search + window.location.hash;
      signIn.href = signIn.pathname + "?redirect_to=" + encodeURIComponent(back);
    }
    return;
  }
  if (!root.dataset.experimentsUrl) {
    return;
  }
  var notice = root.querySelector("[data-forwarding]");
  if (notice) {
    notice.hidden = false;
  }
  window.location.replace(target(window.location.hash, root.dataset));
})();
