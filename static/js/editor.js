// The template editor: line numbers beside the YAML, the lines with problems marked (the
// server's check, swapped in by htmx while typing), and "Line N" buttons that move the
// caret there. Without it the editor is a plain textarea whose form still saves.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const text = document.getElementById("id_source");
    const gutter = document.querySelector(".editor-gutter");
    if (!text || !gutter) return;
    let marked = new Set();

    function problemLines() {
      return new Set([...document.querySelectorAll("#editor-problems [data-line]")].map((li) => Number(li.dataset.line)));
    }

    function drawGutter() {
      const count = text.value.split("\n").length;
      const parts = [];
      for (let line = 1; line <= count; line++) {
        parts.push(marked.has(line) ? `<span class="bad-line" title="a problem on this line">${line}</span>` : String(line));
      }
      gutter.innerHTML = parts.join("\n");
      gutter.scrollTop = text.scrollTop;
    }

    function goTo(line) {
      const lines = text.value.split("\n");
      let start = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      const end = start + (lines[line - 1] || "").length;
      text.focus();
      text.setSelectionRange(start, end);
      const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 20;
      text.scrollTop = Math.max(0, (line - 3) * lineHeight);
    }

    text.addEventListener("input", drawGutter);
    text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; }, { passive: true });
    document.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "editor-check") {
        marked = problemLines();
        text.setAttribute("aria-invalid", marked.size || document.querySelector("#editor-problems") ? "true" : "false");
        drawGutter();
      }
    });
    document.addEventListener("click", function (event) {
      const button = event.target.closest(".goto-line");
      if (button) goTo(Number(button.dataset.line));
    });
    marked = problemLines();
    drawGutter();
  });
})();
