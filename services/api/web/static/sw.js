/* The capture app's service worker (served at /sw.js, scope /): keeps the app shell so that /signaler opens
   with no network once visited. The server writes the version (a digest of the shell's files) in place of
   __VERSION__: a new shell is a new cache, and the old one is dropped. Only GET requests of this site are
   answered here; sending signals (POST) always goes to the network, from the page's own outbox. */
"use strict";

var CACHE = "urgence-signaler-__VERSION__";
var PAGES = ["/signaler", "/mes-signalements"];
var SHELL = __SHELL__;

function keep(cache, url) {
  return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
    // A redirect (to the sign-in page) or a refusal is not the shell.
    if (response.ok && !response.redirected) { return cache.put(url, response); }
    return undefined;
  }, function () { return undefined; });
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return Promise.all(SHELL.concat(PAGES).map(function (url) { return keep(cache, url); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("urgence-signaler-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method === "POST" && url.pathname === "/deconnexion") {
    // Signing out: the kept pages carry the person's name and session token; the next person gets fresh ones.
    event.waitUntil(caches.open(CACHE).then(function (cache) {
      return Promise.all(PAGES.map(function (page) { return cache.delete(page); }));
    }));
    return;
  }
  if (request.method !== "GET") { return; }
  if (PAGES.indexOf(url.pathname) >= 0 && request.mode === "navigate") {
    // The page from the network when there is one (fresh CSRF token, fresh list), else the kept copy.
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok && !response.redirected) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { return cache.put(url.pathname, copy); });
      }
      return response;
    }, function () {
      return caches.open(CACHE).then(function (cache) { return cache.match(url.pathname); }).then(function (kept) {
        return kept || new Response("Hors ligne : cette page n'a pas encore été ouverte sur ce téléphone.", {
          status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" }
        });
      });
    }));
    return;
  }
  if (SHELL.indexOf(url.pathname) >= 0) {
    // The shell's files: the kept copy (this cache's version is theirs), else the network.
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(url.pathname).then(function (kept) {
        return kept || fetch(request).then(function (response) {
          if (response.ok) { cache.put(url.pathname, response.clone()); }
          return response;
        });
      });
    }));
  }
});
