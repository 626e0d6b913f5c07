// The template editor's live preview: copy the draft into the preview form and
// submit it into the sandboxed iframe, a moment after the last keystroke.
(function () {
  "use strict";
  var editor = document.getElementById("template-editor");
  var preview = document.getElementById("preview-form");
  if (!editor || !preview) return;
  var fields = ["subject", "htmlBody", "textBody", "sampleVariables"];
  var timer = null;
  function refresh() {
    fields.forEach(function (name) {
      if (editor.elements[name] && preview.elements[name]) {
        preview.elements[name].value = editor.elements[name].value;
      }
    });
    preview.submit();
  }
  editor.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
  refresh();
})();
