/* urgence — the live queue. Without this script the page works (reload to see changes); with it, rows appear,
   change and leave as the server announces them (server-sent events), and the time left keeps ticking.
   No framework, no outside file. */
(function () {
  "use strict";
  var body = document.getElementById("queue-body");
  if (!body || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var count = document.getElementById("queue-count");
  var lastApplied = {}; // situation id → last event id applied: an older message never undoes a newer one
  var filters = { status: body.dataset.statut, fiche: body.dataset.fiche, secteur: body.dataset.secteur };

  function say(text) { if (status) { status.textContent = text; } }

  function matches(change) {
    return (!filters.status || change.status === filters.status) &&
      (!filters.fiche || change.primary_fiche === filters.fiche) &&
      (!filters.secteur || change.sector === filters.secteur);
  }

  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr[id^='s-']")); }

  function sortKey(row) { return (row.dataset.deadline || "9999") + " " + row.id; }

  function recount() {
    var n = rows().length;
    if (count) { count.textContent = n + " situation" + (n > 1 ? "s" : "") + " affichée" + (n > 1 ? "s" : ""); }
    var empty = body.querySelector("tr.empty");
    if (n === 0 && !empty) {
      empty = document.createElement("tr");
      empty.className = "empty";
      var cell = document.createElement("td");
      cell.colSpan = 6;
      cell.textContent = "Aucune situation ouverte dans cette file.";
      empty.appendChild(cell);
      body.appendChild(empty);
    } else if (n > 0 && empty) {
      empty.remove();
    }
  }

  function apply(change) {
    if (lastApplied[change.id] !== undefined && lastApplied[change.id] > change.event_id) { return; }
    lastApplied[change.id] = change.event_id;
    var existing = document.getElementById("s-" + change.id);
    if (!change.in_queue || !matches(change)) {
      if (existing) { existing.remove(); }
      recount();
      return;
    }
    var template = document.createElement("template");
    template.innerHTML = change.html.trim(); // rendered and escaped by the server
    var row = template.content.firstElementChild;
    row.classList.add("changed");
    if (existing) { existing.remove(); }
    var key = sortKey(row);
    var after = rows().find(function (other) { return sortKey(other) > key; });
    body.insertBefore(row, after || null);
    recount();
  }

  function duration(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), rest = minutes % 60;
    if (days) { return days + " j" + (hours ? " " + hours + " h" : ""); }
    if (hours) { return hours + " h " + (rest < 10 ? "0" : "") + rest; }
    return rest + " min";
  }

  function tick() {
    var now = Date.now();
    rows().forEach(function (row) {
      var cell = row.querySelector("td.deadline");
      if (!cell || !row.dataset.deadline) { return; }
      var seconds = (Date.parse(row.dataset.deadline) - now) / 1000;
      var late = seconds < 0;
      cell.classList.toggle("overdue", late);
      cell.textContent = late ? "⚠ en retard de " + duration(seconds) : "reste " + duration(seconds);
    });
  }

  var source = new EventSource("/file/" + encodeURIComponent(body.dataset.lead) + "/flux?depuis=" + body.dataset.since);
  source.addEventListener("open", function () { say("· mise à jour en direct"); });
  source.addEventListener("error", function () { say("· connexion perdue, reconnexion…"); });
  source.addEventListener("situation", function (event) { apply(JSON.parse(event.data)); });
  source.addEventListener("reload", function () { source.close(); window.location.reload(); });
  window.setInterval(tick, 30000);
})();
