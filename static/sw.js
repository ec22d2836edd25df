/* Doorstep service worker. Served at /sw.js by webapp/pwa with VERSION and SHELL filled in.
 *
 * - App shell (styles, scripts, icons, manifest, /offline): precached per version, cache-first.
 * - Pages (navigations and htmx GETs): network first with a timeout, then the kept copy, then
 *   /offline. Every page fetched fine is kept in PAGES_CACHE.
 * - PAGES_CACHE is not versioned and survives deploys, so pages kept before an update still
 *   open offline afterwards. It is per user: emptied when someone logs out.
 * - Never cached: anything but GET, /api/, login and logout. IndexedDB is never touched here
 *   except through outbox-core.js (the Background Sync flush).
 */
"use strict";

importScripts("/static/js/outbox-core.js");

var VERSION = "__VERSION__";
var SHELL = ["__SHELL__"];
var STATIC_PREFIX = "doorstep-static-";
var STATIC_CACHE = STATIC_PREFIX + VERSION;
var PAGES_CACHE = "doorstep-pages";
var OFFLINE_URL = "/offline";
// Keep in step with webapp/pwa/service.py offline_urls (register.household_unsynced and the outbox).
var FRAMES = ["/outbox", "/households/unsynced", "/households/unsynced/people/new"];
var NETWORK_TIMEOUT_MS = 3000;
// On a 2G/3G connection (as the browser estimates it) a kept page is shown after this long,
// and the network's answer, when it comes, replaces it in the cache for the next visit.
var SLOW_NETWORK_TIMEOUT_MS = 800;
var SLOW_TYPES = ["slow-2g", "2g", "3g"];

function networkTimeout() {
  var connection = self.navigator && self.navigator.connection;
  return connection && SLOW_TYPES.indexOf(connection.effectiveType) !== -1 ? SLOW_NETWORK_TIMEOUT_MS : NETWORK_TIMEOUT_MS;
}
var FULL_REFRESH_EVERY_MS = 30 * 60 * 1000;
var REFRESH_CONCURRENCY = 2;
var NEVER_CACHE = /^\/(api\/|login|logout|lang\/|sw\.js$|offline-pages$)/;
var MATCH = { ignoreVary: true };
// Static URLs carry the release's hash (?v=…); a page kept before a release names the old one.
var STATIC_MATCH = { ignoreVary: true, ignoreSearch: true };
var generation = 0; // bumped at logout: a refresh still running must not refill the cache
var refreshing = null;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(STATIC_CACHE).then(function (cache) {
    return cache.addAll(SHELL.map(function (url) { return new Request(url, { cache: "reload" }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(STATIC_PREFIX) === 0 && name !== STATIC_CACHE; // old shells only
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

// -- fetch ----------------------------------------------------------------------------------

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.method !== "GET") {
    if (request.method === "POST" && url.pathname === "/logout") { event.waitUntil(forgetUser()); }
    return; // the network, uncached
  }
  if (NEVER_CACHE.test(url.pathname)) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" || request.headers.get("HX-Request")) {
    event.respondWith(networkFirst(request));
  }
});

function cacheFirst(request) {
  return caches.match(request, STATIC_MATCH).then(function (hit) {
    return hit || fetch(request).then(function (response) {
      if (response.ok && response.type === "basic") {
        var copy = response.clone();
        caches.open(STATIC_CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    });
  });
}

/* htmx fragments and full pages share URLs: keep them under different keys. */
function pageKey(request) {
  if (!request.headers.get("HX-Request")) { return request.url; }
  var url = new URL(request.url);
  url.searchParams.set("__hx", "1");
  return url.href;
}

/* "Cache-Control: no-store" pages (an import's preview) are never kept on the phone. Besides
 * pages, some JSON is kept: a sign-in desk's roster and events snapshot (the desk must open
 * offline with its people and with who was signed in when it last had signal), and the
 * worker's people index that Today searches offline. */
var KEPT_JSON = /^\/(desk\/[^/]+\/(roster|events)\.json|today\/people\.json)$/;

function keepable(response) {
  var type = response.headers.get("Content-Type") || "";
  var noStore = (response.headers.get("Cache-Control") || "").indexOf("no-store") !== -1;
  var json = type.indexOf("application/json") === 0 && KEPT_JSON.test(new URL(response.url).pathname);
  return response.ok && !response.redirected && response.type === "basic" && (type.indexOf("text/html") === 0 || json) &&
    !noStore;
}

function keepPage(key, response, gen) {
  if (!keepable(response) || gen !== generation) { return Promise.resolve(); }
  return caches.open(PAGES_CACHE).then(function (cache) { return cache.put(key, response); });
}

function keptPage(key) {
  return caches.open(PAGES_CACHE).then(function (cache) { return cache.match(key, MATCH); });
}

function offlineAnswer(request) {
  if (request.mode !== "navigate") {
    return new Response("", { status: 503, statusText: "Offline" }); // htmx leaves the page as is
  }
  return caches.match(OFFLINE_URL, { cacheName: STATIC_CACHE, ignoreVary: true }).then(function (hit) {
    return hit || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  });
}

function networkFirst(request) {
  var key = pageKey(request);
  var gen = generation;
  return new Promise(function (resolve) {
    var settled = false;
    function answer(response) { if (!settled) { settled = true; resolve(response); } }
    var timer = setTimeout(function () {
      keptPage(key).then(function (hit) { if (hit) { answer(hit); } }); // slow network: the kept copy now
    }, networkTimeout());
    fetch(request).then(function (response) {
      clearTimeout(timer);
      keepPage(key, response.clone(), gen);
      answer(response);
    }, function () {
      clearTimeout(timer);
      keptPage(key).then(function (hit) { return hit || offlineAnswer(request); }).then(answer);
    });
  });
}

// -- keeping the worker's pages fresh -------------------------------------------------------

/* The kept pages are one user's. A session that ended without logging out (it expired) left
 * them behind: the next user to sign in on this phone must not open them. */
function pagesBelongTo(owner) {
  return Outbox.getMeta("pages-owner").then(function (before) {
    if (before && before !== owner) {
      generation += 1;
      return caches.delete(PAGES_CACHE);
    }
  }).then(function () { return Outbox.setMeta("pages-owner", owner); });
}

function forgetUser() {
  generation += 1;
  return Promise.all([caches.delete(PAGES_CACHE), Outbox.setMeta("owner", null)]);
}

/* Fetch urls two at a time into PAGES_CACHE; stop if the session has ended. */
function fetchPages(urls) {
  var queue = urls.slice();
  var gen = generation;
  var stopped = false;
  function worker() {
    var url = queue.shift();
    if (!url || stopped || gen !== generation) { return Promise.resolve(); }
    return keptPage(url).then(function (hit) {
      // A kept answer with an ETag (the people index) is asked for again only if it changed.
      var etag = hit && hit.headers.get("ETag");
      return fetch(url, { credentials: "same-origin", cache: "no-store", headers: etag ? { "If-None-Match": etag } : {} });
    }).then(function (response) {
      if (response.status === 304) { return; }
      if (response.redirected || response.status === 401 || response.status === 403) { stopped = true; return; }
      if (response.status === 404) {
        return caches.open(PAGES_CACHE).then(function (cache) { return cache.delete(url); });
      }
      return keepPage(url, response, gen);
    }, function () { stopped = true; }).then(worker);
  }
  var workers = [];
  for (var i = 0; i < REFRESH_CONCURRENCY; i++) { workers.push(worker()); }
  return Promise.all(workers);
}

function keptPageUrls() {
  return caches.open(PAGES_CACHE).then(function (cache) { return cache.keys(); }).then(function (requests) {
    return requests.map(function (r) { return r.url; }).filter(function (u) { return u.indexOf("__hx=") < 0; });
  });
}

function serverPageList() {
  return fetch("/offline-pages", { credentials: "same-origin", cache: "no-store" }).then(function (response) {
    if (!response.ok || response.redirected) { return []; }
    return response.json().then(function (body) {
      return (body.urls || []).map(function (u) { return new URL(u, self.location.origin).href; });
    });
  }, function () { return []; });
}

/* Re-fetch `urls` now; also every kept page plus the server's list when a full refresh is
 * due (first time for this user, then at most every FULL_REFRESH_EVERY_MS) or forced. */
function refreshPages(urls, force) {
  if (refreshing) { return refreshing; }
  refreshing = Outbox.getMeta("owner").then(function (owner) {
    if (!owner) { return null; }
    var key = "pages-refreshed:" + owner;
    return Outbox.getMeta(key).then(function (last) {
      var due = force || !last || Date.now() - Date.parse(last) > FULL_REFRESH_EVERY_MS;
      var targets = (urls || []).map(function (u) { return new URL(u, self.location.origin).href; });
      if (!due) { return fetchPages(targets); }
      return Promise.all([keptPageUrls(), serverPageList()]).then(function (lists) {
        var all = Array.from(new Set(targets.concat(lists[0], lists[1])));
        return fetchPages(all).then(function () { return Outbox.setMeta(key, new Date().toISOString()); });
      });
    });
  }).catch(function () { return null; }).then(function () { refreshing = null; });
  return refreshing;
}

// -- messages from pages, background sync ---------------------------------------------------

function shellComplete() {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return Promise.all(SHELL.map(function (url) {
      return cache.match(url, MATCH).then(function (hit) { return hit || cache.add(url); });
    }));
  });
}

function keepCurrentPage(url) {
  return keptPage(url).then(function (hit) {
    if (hit || NEVER_CACHE.test(new URL(url).pathname)) { return; }
    var gen = generation;
    return fetch(url, { credentials: "same-origin" }).then(function (response) { return keepPage(url, response, gen); });
  });
}

/* The signed-in user's frames (no register data, filled on the phone from the outbox) must be
 * on the phone before it says "ready offline": a household made offline opens in one. */
function keepFrames() {
  return Promise.all(FRAMES.map(function (path) { return keepCurrentPage(new URL(path, self.location.origin).href); }));
}

self.addEventListener("message", function (event) {
  var message = event.data || {};
  var reply = event.ports && event.ports[0];
  if (message.type === "hello") {
    // The page that registered us was fetched before we controlled it: keep it too.
    var work = shellComplete().then(function () {
      return message.owner ? pagesBelongTo(message.owner) : null;
    }).then(function () {
      return message.signedIn ? Promise.all([keepCurrentPage(message.url), keepFrames()]) : null;
    }).then(function () {
      if (reply) { reply.postMessage({ ready: true, version: VERSION }); }
      if (message.signedIn) { return refreshPages([], false); }
    }, function (error) {
      if (reply) { reply.postMessage({ ready: false, error: String(error) }); }
    });
    event.waitUntil(work);
  } else if (message.type === "synced") {
    event.waitUntil(refreshPages(message.urls || [], !!message.force));
  } else if (message.type === "claim") {
    event.waitUntil(self.clients.claim());
  } else if (message.type === "logout") {
    event.waitUntil(forgetUser());
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag !== "outbox") { return; }
  event.waitUntil(Outbox.flush().then(function (summary) {
    if (summary.ok) {
      return refreshPages(Outbox.pagesAfterSync(summary), false);
    }
    if (summary.reason === "network" || summary.reason === "http") {
      throw new Error(summary.reason); // the browser tries again later
    }
  }));
});
