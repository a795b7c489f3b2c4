/* An experiment's page (templates/model_registry/experiment.html): the runs selected in the table
 * (checkboxes of the compare form, by their form attribute) and the Compare button, which opens the
 * comparison of two runs or more: .../-/ml/runs/compare?run=<id>&run=<id>. Without this script the
 * button still submits the form. */
(function () {
  "use strict";

  var form = document.querySelector("[data-compare-form]");
  if (!form) {
    return;
  }
  var button = form.querySelector("[data-compare-button]");
  var count = form.querySelector("[data-compare-count]");
  var all = document.querySelector("[data-select-all]");

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-select-run]"));
  }

  function update() {
    var selected = boxes().filter(function (box) { return box.checked; }).length;
    button.disabled = selected < 2;
    count.textContent = selected === 0 ? "Select runs to compare"
      : selected === 1 ? "1 run selected: select another to compare"
      : selected + " runs selected";
    if (all) {
      all.checked = selected > 0 && selected === boxes().length;
      all.indeterminate = selected > 0 && selected < boxes().length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target === all) {
      boxes().forEach(function (box) { box.checked = all.checked; });
    }
    if (target === all || (target instanceof Element && target.hasAttribute("data-select-run"))) {
      update();
    }
  });

  form.addEventListener("submit", function (event) {
    if (boxes().filter(function (box) { return box.checked; }).length < 2) {
      event.preventDefault();
    }
  });

  update();
})();
