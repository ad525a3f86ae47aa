// Keyportal's own script: small conveniences on top of pages that work
// without it. No inline handlers anywhere, so the CSP can forbid them.
(function () {
  "use strict";

  // "/" jumps to the search box, as on GitHub and GitLab.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var q = document.getElementById("f-q");
    if (q) {
      e.preventDefault();
      q.focus();
      q.select();
    }
  });

  // Times read relative ("3 months ago"); hovering one shows the exact
  // moment, in UTC as the server wrote it, here in the reader's own time
  // zone.
  var exact = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
  function titleTimes(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.title = exact.format(d);
    });
  }
  // htmx announces the page's body as loaded too; without it, do it here.
  document.addEventListener("htmx:load", function (e) { titleTimes(e.detail.elt); });
  if (!window.htmx) document.addEventListener("DOMContentLoaded", function () { titleTimes(document); });

  // A filter field whose message slot holds a message is invalid, and the
  // message describes it. htmx fills the slots out of band, with the
  // results, so this runs after every swap.
  function markFilterErrors() {
    document.querySelectorAll("#filters .field-error-slot").forEach(function (slot) {
      var field = slot.parentElement;
      var input = field && field.querySelector("input:not([type=checkbox]), select");
      if (!input) return;
      // A field's own help (as the page gave it) keeps describing it.
      if (!input.hasAttribute("data-help")) input.setAttribute("data-help", input.getAttribute("aria-describedby") || "");
      var help = input.getAttribute("data-help");
      if (slot.querySelector(".field-error")) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", (slot.id + " " + help).trim());
      } else {
        input.removeAttribute("aria-invalid");
        if (help) input.setAttribute("aria-describedby", help);
        else input.removeAttribute("aria-describedby");
      }
    });
  }
  document.addEventListener("htmx:afterSettle", markFilterErrors);

  // The results name their sort; a header link may have changed it, and
  // the form's Sort control follows, so the next filter change keeps it.
  document.addEventListener("htmx:afterSettle", function () {
    var results = document.getElementById("results");
    var sort = document.getElementById("f-sort");
    var want = results && results.getAttribute("data-sort");
    if (sort && want && sort.value !== want) sort.value = want;
  });
  document.addEventListener("DOMContentLoaded", markFilterErrors);

  // Tell assistive technology when the results are being replaced.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var r = document.getElementById("results");
    if (r && e.detail.target === r) r.setAttribute("aria-busy", "true");
  });

  // The header checkbox ticks every row on the page; the server reads it
  // too (page_all), so it also works without this script.
  document.addEventListener("change", function (e) {
    var all = e.target;
    if (!all.matches || !all.matches("input[data-select-all]")) return;
    var boxes = document.querySelectorAll("#results td.select input[type=checkbox]");
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
  });

  // Row menus: the page sends its menu once, in <template
  // id="row-menu-template">, with {id} where a key's id goes. A menu is
  // filled when it first opens; items marked data-if="active" (not
  // expired) or data-if="expires" (has an expiry) stay only where the
  // row's expiry state says they apply. Without this script the menu
  // holds a link to the key's actions page instead.
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (!d.matches || !d.matches("details.row-menu") || !d.open || d.hasAttribute("data-filled")) return;
    var tpl = document.getElementById("row-menu-template");
    var row = d.closest("tr");
    if (!tpl || !row) return;
    var id = row.getAttribute("data-key-id");
    var expiry = row.querySelector(".expiry[data-state]");
    var state = expiry ? expiry.getAttribute("data-state") : "";
    var applies = { active: state !== "expired", expires: state !== "never" };
    var items = tpl.content.cloneNode(true);
    items.querySelectorAll("[data-if]").forEach(function (el) {
      if (!applies[el.getAttribute("data-if")]) el.remove();
    });
    items.querySelectorAll("a, button").forEach(function (el) {
      ["href", "hx-get", "hx-post", "formaction"].forEach(function (name) {
        var v = el.getAttribute(name);
        if (v) el.setAttribute(name, v.split("{id}").join(id));
      });
    });
    var menu = d.querySelector(".menu");
    menu.replaceChildren(items);
    d.setAttribute("data-filled", "");
    if (window.htmx) window.htmx.process(menu);
  }, true);

  // An open menu stays inside the viewport. On a phone a row's menu lies in
  // the page's flow (CSS), and the page scrolls to show it; elsewhere it
  // floats (position: fixed, so the table's scroll box cannot clip it)
  // below its button, or above it near the bottom of the viewport, and
  // never past a side. It follows its button when the page scrolls, and
  // closes once the user scrolls its button away. A resize only moves it:
  // the user did not ask for that (a browser's toolbar, a rotated tablet, a
  // full-page screenshot all resize the window), and a menu that vanished
  // under the pointer would lose the action it was opened for.
  function placeMenu(d, closeIfAway) {
    var menu = d.querySelector(".menu");
    if (!menu) return;
    if (getComputedStyle(menu).position === "static") {
      menu.scrollIntoView({ block: "nearest" });
      return;
    }
    menu.classList.add("menu-float");
    var b = d.querySelector("summary").getBoundingClientRect();
    if (closeIfAway && (b.bottom < 0 || b.top > window.innerHeight)) {
      d.removeAttribute("open"); // its button scrolled away
      return;
    }
    var w = menu.offsetWidth, h = menu.offsetHeight, gap = 4, edge = 8;
    var vw = document.documentElement.clientWidth, vh = window.innerHeight;
    var left = Math.max(edge, Math.min(b.right - w, vw - w - edge));
    var top = b.bottom + gap;
    if (top + h > vh - edge) top = b.top - gap - h >= edge ? b.top - gap - h : Math.max(edge, vh - edge - h);
    top = Math.max(edge, Math.min(top, vh - edge - h)); // its button may lie below the window's edge after a resize
    menu.style.left = left + "px";
    menu.style.top = top + "px";
  }
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (d.matches && d.matches(menus) && d.open) placeMenu(d, false);
  }, true);
  function openMenus() {
    return document.querySelectorAll("details.row-menu[open], details.account-menu[open]");
  }
  function placeOpenMenus(closeIfAway) {
    var open = openMenus();
    for (var i = 0; i < open.length; i++) placeMenu(open[i], closeIfAway);
  }
  window.addEventListener("scroll", function () { placeOpenMenus(true); }, true);
  window.addEventListener("resize", function () { placeOpenMenus(false); });

  // Row menus and the account menu are <details>: close them on a click
  // elsewhere or on Escape, as a menu would, and keep at most one open.
  var menus = "details.row-menu, details.account-menu";
  function closeMenus(except) {
    var open = openMenus();
    for (var i = 0; i < open.length; i++) if (open[i] !== except) open[i].removeAttribute("open");
  }
  document.addEventListener("click", function (e) {
    closeMenus(e.target.closest && e.target.closest(menus));
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    // Escape in the in-place editor cancels it.
    var editor = e.target.closest && e.target.closest("form.inline-edit");
    if (editor) {
      var cancel = editor.querySelector("[data-cancel]");
      if (cancel) cancel.click();
      return;
    }
    var menu = e.target.closest && e.target.closest(menus);
    closeMenus(null);
    if (menu) menu.querySelector("summary").focus();
  });

  // A row action (save or cancel in the in-place editor, expire now, clear
  // expiry) replaces its row; focus then goes to the new row's ⋯ button,
  // where the action began, instead of falling to <body>. The editor's
  // autofocus, which htmx applies before this, is left alone.
  var focusRow = null;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var row = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("tr[data-key-id]");
    focusRow = row ? row.getAttribute("data-key-id") : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (focusRow === null) return;
    var id = focusRow;
    var active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    focusRow = null;
    var rows = document.querySelectorAll("tr[data-key-id]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-key-id") !== id) continue;
      var target = rows[i].querySelector("summary");
      if (target) target.focus();
      return;
    }
  });

  // Copy buttons: <button data-copy="#id">. The clipboard API exists only
  // in secure contexts (https, localhost); on a plain-http intranet the
  // text is selected and copied the old way.
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-copy]");
    if (!b) return;
    var src = document.querySelector(b.getAttribute("data-copy"));
    if (!src) return;
    var text = src.value || src.textContent;
    var old = b.textContent;
    function done(ok) {
      b.textContent = ok ? "Copied" : "Press Ctrl+C to copy";
      setTimeout(function () { b.textContent = old; }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    src.focus();
    if (src.select) src.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
    done(ok);
  });
})();
