/* The outreach capture app (/signaler, /mes-signalements): a signal is first written to the phone (IndexedDB),
   with its own Idempotency-Key made when the button is pressed, then sent; whatever is not answered stays and
   goes again when the network is back. The server's idempotency makes every resend safe: one key, one signal.
   Without this script the form still works (a plain POST). */
(function () {
  "use strict";

  var DB_NAME = "urgence-signaler";
  var STORE = "outbox";
  var RETRY_MS = 15000;
  var IMPRECISE_METRES = 300;

  /* ---- the outbox on the phone ---- */
  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "key" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function inStore(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction(STORE, mode);
        var request = work(transaction.objectStore(STORE));
        transaction.oncomplete = function () {
          db.close();
          resolve(request ? request.result : undefined);
        };
        transaction.onerror = transaction.onabort = function () {
          db.close();
          reject(transaction.error);
        };
      });
    });
  }

  /* Whose phone this is right now: a shared phone sends each person's signals only in that person's session. */
  function reporter() {
    var section = byId("en-attente");
    return section ? section.getAttribute("data-reporter") || "" : "";
  }

  var outbox = {
    put: function (item) { return inStore("readwrite", function (store) { return store.put(item); }); },
    remove: function (key) { return inStore("readwrite", function (store) { return store.delete(key); }); },
    all: function () {
      return inStore("readonly", function (store) { return store.getAll(); }).then(function (items) {
        var mine = reporter();
        return (items || []).filter(function (item) { return item.reporter === mine; })
          .sort(function (a, b) { return a.at < b.at ? -1 : 1; });
      });
    }
  };

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  /* ---- small DOM helpers ---- */
  function byId(id) { return document.getElementById(id); }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function clock(iso) {
    var when = new Date(iso);
    return ("0" + when.getHours()).slice(-2) + " h " + ("0" + when.getMinutes()).slice(-2);
  }

  function csrfToken() {
    var field = document.querySelector("input[name=csrf_token]") || document.querySelector("meta[name=csrf-token]");
    return field ? (field.value || field.getAttribute("content") || "") : "";
  }

  /* ---- offline panel and pending list (both pages) ---- */
  function setOffline(offline) {
    var panel = byId("hors-ligne");
    if (panel) { panel.hidden = !offline; }
  }

  function renderPending() {
    var section = byId("en-attente");
    if (!section) { return Promise.resolve(); }
    return outbox.all().then(function (items) {
      var list = byId("en-attente-liste");
      list.textContent = "";
      items.forEach(function (item) {
        var line = element("li", { "class": "pending", "data-key": item.key });
        line.appendChild(element("span", {}, "Signalement de " + clock(item.at) + (item.summary ? " (" + item.summary + ")" : "")));
        if (item.state === "rejected") {
          line.appendChild(element("strong", { "class": "refused" }, " — refusé : " + (item.problem || "données invalides")));
          var drop = element("button", { type: "button", "class": "secondary" }, "Retirer");
          drop.addEventListener("click", function () { outbox.remove(item.key).then(renderPending); });
          line.appendChild(drop);
        } else {
          line.appendChild(element("strong", { "class": "waiting" }, " — en attente d'envoi"));
        }
        list.appendChild(line);
      });
      section.hidden = items.length === 0;
    });
  }

  /* ---- the answer: directives as numbers to call ---- */
  function showResult(answer, item) {
    var box = byId("resultat");
    if (!box) { return; }
    box.textContent = "";
    box.hidden = false;
    var title = element("h2", { tabindex: "-1" }, "Signalement de " + clock(item.at) + " reçu");
    box.appendChild(title);
    var calls = answer.calls || [];
    if (calls.length) {
      box.appendChild(element("p", {}, "À faire tout de suite :"));
      var list = element("ul", { "class": "calls" });
      calls.forEach(function (call) {
        var line = element("li");
        line.appendChild(element("a", { "class": "call", href: call.href }, call.words));
        line.appendChild(element("span", { "class": "why" }, call.why));
        list.appendChild(line);
      });
      box.appendChild(list);
    } else {
      box.appendChild(element("p", {}, "Aucun appel à passer : l'équipe compétente est prévenue."));
    }
    var follow = element("p");
    follow.appendChild(document.createTextNode("L'orientation suit : voir "));
    follow.appendChild(element("a", { href: "/mes-signalements" }, "Mes signalements"));
    follow.appendChild(document.createTextNode("."));
    box.appendChild(follow);
    title.focus();
  }

  /* ---- validation answers, next to each field ---- */
  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (node) {
      node.textContent = "";
      node.hidden = true;
    });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (node) {
      node.removeAttribute("aria-invalid");
    });
  }

  function showErrors(form, errors) {
    var first = null;
    errors.forEach(function (error) {
      var slot = byId("erreur-" + error.field) || byId("erreur-general");
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + error.detail;
      slot.hidden = false;
      var control = form.querySelector("[name='" + error.field + "']");
      if (control) { control.setAttribute("aria-invalid", "true"); }
      first = first || control || slot;
    });
    if (first) {
      if (!first.hasAttribute("tabindex") && !/INPUT|SELECT|TEXTAREA|BUTTON/.test(first.tagName)) {
        first.setAttribute("tabindex", "-1");
      }
      first.focus();
    }
  }

  /* Before keeping a signal on the phone, the two rules a person would otherwise hear about too late (once the
     network is back, the team gone): somewhere, and someone. The server checks everything again. */
  function checkBeforeKeeping(form) {
    var errors = [];
    var value = function (name) { var f = form.elements[name]; return f ? String(f.value).trim() : ""; };
    if (!(value("lat") && value("lon")) && !value("postcode") && !value("arrondissement")) {
      errors.push({ field: "location", detail: form.getAttribute("data-rule-location") });
    }
    var people = ["adults", "children", "unaccompanied_minors"].reduce(function (sum, name) {
      return sum + (parseInt(value(name), 10) || 0);
    }, 0);
    var flagged = Array.prototype.some.call(form.querySelectorAll("input[name=flags]:checked"), function (box) {
      return box.value === "camp" || box.value === "deceased";
    });
    if (!people && !flagged) { errors.push({ field: "people", detail: form.getAttribute("data-rule-people") }); }
    return errors;
  }

  function summary(form) {
    var parts = [];
    [["adults", "adulte"], ["children", "enfant"], ["unaccompanied_minors", "mineur"]].forEach(function (pair) {
      var n = parseInt(form.elements[pair[0]].value, 10) || 0;
      if (n) { parts.push(n + " " + pair[1] + (n > 1 ? "s" : "")); }
    });
    return parts.join(", ");
  }

  function serialize(form) {
    var data = new URLSearchParams(new FormData(form));
    data.delete("csrf_token");
    data.delete("idempotency_key");
    return data.toString();
  }

  /* ---- sending ---- */
  function post(item) {
    var body = item.body + "&csrf_token=" + encodeURIComponent(csrfToken()) +
      "&idempotency_key=" + encodeURIComponent(item.key);
    return fetch("/signaler", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "Idempotency-Key": item.key
      },
      body: body
    }).then(function (response) {
      var json = (response.headers.get("content-type") || "").indexOf("json") >= 0;
      return (json ? response.json() : Promise.resolve(null)).then(function (data) {
        return { status: response.status, data: data, signedOut: response.redirected || (!json && response.status === 200) };
      });
    }, function () {
      return { status: 0, data: null, signedOut: false };
    });
  }

  /* A session renewed since the page was kept: take its CSRF token from a fresh copy of the page. */
  function refreshToken() {
    return fetch("/signaler", { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      return response.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("input[name=csrf_token]");
      var field = document.querySelector("input[name=csrf_token]");
      if (fresh && field) { field.value = fresh.value; }
      return Boolean(fresh);
    }, function () { return false; });
  }

  function say(text) {
    var status = byId("etat-envoi");
    if (status) { status.textContent = text; }
  }

  /* One signal: "sent", "invalid", "offline" or "later". `live`: the person is looking at its form. */
  function send(item, live, retried) {
    return post(item).then(function (result) {
      if (result.status === 202 && result.data) {
        setOffline(false);
        return outbox.remove(item.key).then(function () {
          showResult(result.data, item);
          say("");
          return "sent";
        });
      }
      if (result.status === 422 || result.status === 400 || result.status === 413) {
        var errors = (result.data && result.data.errors) || [{ field: "general", detail: "Données invalides." }];
        if (live) {
          var form = byId("signalement");
          return outbox.remove(item.key).then(function () {
            if (form) { showErrors(form, errors); }
            return "invalid";
          });
        }
        item.state = "rejected";
        item.problem = errors.map(function (e) { return e.detail; }).join(" ");
        return outbox.put(item).then(function () { return "invalid"; });
      }
      if (result.status === 0) {
        setOffline(true);
        return "offline";
      }
      if (result.signedOut) {
        say("Session expirée : reconnectez-vous, les signalements en attente partiront ensuite.");
        return "offline";
      }
      if (result.status === 403 && !retried) {
        return refreshToken().then(function (ok) { return ok ? send(item, live, true) : "later"; });
      }
      return "later"; // 409 (the same key still in flight), 429, 5xx: the next round sends it again
    });
  }

  var flushing = false;
  var sending = {}; // keys the form is sending right now: the background round leaves them alone

  function flush() {
    if (flushing) { return Promise.resolve(); }
    flushing = true;
    var run = function () {
      return outbox.all().then(function (items) {
        return items.filter(function (item) {
          return item.state !== "rejected" && !sending[item.key];
        }).reduce(function (chain, item) {
          return chain.then(function (previous) {
            return previous === "offline" ? previous : send(item, false, false);
          });
        }, Promise.resolve(""));
      });
    };
    // Two tabs never send the same signal at the same time (the server would answer 409 to one anyway).
    var locked = navigator.locks ? navigator.locks.request("urgence-signaler-envoi", run) : run();
    return locked.then(renderPending, renderPending).then(function () { flushing = false; });
  }

  /* ---- the form ---- */
  function setUpSteppers(form) {
    Array.prototype.forEach.call(form.querySelectorAll("button[data-step]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var input = byId(button.getAttribute("data-target"));
        var next = (parseInt(input.value, 10) || 0) + parseInt(button.getAttribute("data-step"), 10);
        input.value = String(Math.max(0, Math.min(500, next)));
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
    });
  }

  function setUpPosition(form) {
    var button = byId("utiliser-position");
    var status = byId("etat-position");
    if (!button) { return; }
    button.hidden = false;
    var fallback = function (text) {
      form.elements.lat.value = "";
      form.elements.lon.value = "";
      status.textContent = text;
      byId("postcode").focus();
    };
    button.addEventListener("click", function () {
      if (!navigator.geolocation) {
        fallback("Ce téléphone ne donne pas sa position : indiquez le code postal ou l'arrondissement.");
        return;
      }
      status.textContent = "Recherche de la position…";
      navigator.geolocation.getCurrentPosition(function (position) {
        var metres = Math.round(position.coords.accuracy);
        if (metres > IMPRECISE_METRES) {
          fallback("Position trop imprécise (± " + metres + " m) : indiquez le code postal ou l'arrondissement.");
          return;
        }
        form.elements.lat.value = position.coords.latitude.toFixed(6);
        form.elements.lon.value = position.coords.longitude.toFixed(6);
        status.textContent = "Position relevée, précision ± " + metres + " m.";
      }, function (error) {
        fallback(error.code === 1
          ? "Position refusée : indiquez le code postal ou l'arrondissement."
          : "Position indisponible : indiquez le code postal ou l'arrondissement.");
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }

  function setUpForm(form) {
    form.noValidate = true;
    setUpSteppers(form);
    setUpPosition(form);
    var button = form.querySelector("button[type=submit]");
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; } // a double tap is one signal
      clearErrors(form);
      say("");
      var problems = checkBeforeKeeping(form);
      if (problems.length) {
        showErrors(form, problems);
        return;
      }
      busy = true;
      button.setAttribute("aria-disabled", "true");
      var at = new Date().toISOString();
      var item = {
        key: newKey(),
        at: at,
        reporter: reporter(),
        // When it was seen, not when the network came back.
        body: serialize(form) + "&observed_at=" + encodeURIComponent(at),
        summary: summary(form),
        state: "pending"
      };
      sending[item.key] = true;
      outbox.put(item).then(renderPending).then(function () {
        say("Envoi en cours…");
        return send(item, true, false);
      }).then(function (outcome) {
        delete sending[item.key];
        if (outcome === "sent" || outcome === "offline" || outcome === "later") {
          form.reset();
          form.elements.lat.value = "";
          form.elements.lon.value = "";
          byId("etat-position").textContent = "";
        }
        if (outcome === "invalid") { say("Signalement non envoyé : corrigez les champs indiqués."); }
        if (outcome === "offline" || outcome === "later") {
          say("Signalement de " + clock(at) + " gardé sur ce téléphone : il partira dès le retour du réseau.");
        }
        return renderPending();
      }).catch(function () {
        delete sending[item.key];
        say("Impossible de garder le signalement sur ce téléphone : réessayez.");
      }).then(function () {
        busy = false;
        button.removeAttribute("aria-disabled");
      });
    });
  }

  /* ---- start ---- */
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* the page works without */ });
  }
  var form = byId("signalement");
  if (form) { setUpForm(form); }
  if (window.indexedDB) {
    setOffline(navigator.onLine === false);
    window.addEventListener("online", function () { flush(); });
    window.addEventListener("offline", function () { setOffline(true); });
    renderPending().then(flush);
    window.setInterval(flush, RETRY_MS);
  }
}());
