/* The worker's "today" screen (/today): the outbox count, and finding people offline.
 *
 * The people index (/today/people.json: names, pinyin keys, households of the worker's
 * villages) is kept in the service worker's page cache, which is per user and emptied at
 * logout; the kept copy is searched at once, and replaced when the server's has changed.
 * Searching happens here, in the page: no request leaves the phone.
 */
(function () {
  "use strict";

  var PAGES_CACHE = "doorstep-pages"; // static/sw.js
  var LIMIT = 30;
  var strings = JSON.parse((document.getElementById("i18n") || {}).textContent || "{}");

  function t(key, values) {
    var text = strings[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }

  function showPending() {
    var target = document.querySelector("[data-today-pending]");
    var owner = document.querySelector('meta[name="user-id"]');
    if (!target || !window.Outbox || !owner) { return; }
    window.Outbox.status(owner.getAttribute("content")).then(function (s) {
      target.dataset.count = String(s.pending + s.rejected);
      target.textContent = s.pending || s.rejected ? t("today_waiting", { pending: s.pending, rejected: s.rejected })
                                                   : t("all_synced");
    });
  }

  function keptIndex(url) {
    if (!window.caches) { return Promise.resolve(null); }
    return caches.open(PAGES_CACHE).then(function (cache) { return cache.match(url); }).catch(function () { return null; });
  }

  /* The list from the network, kept for offline use; with the kept copy's ETag, an unchanged
   * list comes back as a bare 304 (null here: keep what we have). */
  function fetchIndex(url, etag) {
    var headers = { Accept: "application/json" };
    if (etag) { headers["If-None-Match"] = etag; }
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: headers }).then(function (response) {
      if (response.status === 304) { return null; }
      if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
      if (window.caches) {
        var copy = response.clone();
        caches.open(PAGES_CACHE).then(function (cache) { return cache.put(url, copy); });
      }
      return response.json();
    });
  }

  function afterLoad() {
    return new Promise(function (resolve) {
      if (document.readyState === "complete") { resolve(); } else { window.addEventListener("load", resolve); }
    });
  }

  /* The kept copy at once (the service worker fetches it ahead), then the network's if it changed.
   * Without a kept copy the list is fetched after the screen has loaded: it is offline data, not
   * part of showing the screen. `use` gets the list (or null when there is none anywhere). */
  function loadIndex(url, use) {
    return keptIndex(url).then(function (kept) {
      if (!kept) {
        return afterLoad().then(function () { return fetchIndex(url, null); })
          .then(use, function () { use(null); });
      }
      var etag = kept.headers.get("ETag");
      return kept.json().then(function (body) {
        use(body);
        return fetchIndex(url, etag).then(function (fresh) { if (fresh) { use(fresh); } }, function () {});
      }, function () { // an unreadable copy: as if there were none
        return fetchIndex(url, null).then(use, function () { use(null); });
      });
    });
  }

  function matches(person, q) {
    return person.n.indexOf(q) >= 0 || person.i.indexOf(q) === 0 || person.p.indexOf(q) === 0;
  }

  function render(list, people, q) {
    list.replaceChildren();
    list.hidden = !q;
    if (!q) { return; }
    var found = people.filter(function (p) { return matches(p, q); }).slice(0, LIMIT);
    if (!found.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = t("nobody_found");
      list.appendChild(empty);
    }
    found.forEach(function (p) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = "/households/" + p.h;
      var strong = document.createElement("strong");
      strong.textContent = p.n;
      var place = document.createElement("span");
      place.className = "muted";
      place.textContent = p.g + " · " + p.a;
      a.appendChild(strong);
      a.appendChild(place);
      li.appendChild(a);
      li.dataset.personId = p.id;
      list.appendChild(li);
    });
  }

  function start() {
    showPending();
    document.addEventListener("outbox:changed", showPending);
    var input = document.getElementById("people-search");
    if (!input) { return; }
    var list = document.getElementById("people-results");
    var state = document.getElementById("people-index-state");
    var people = [];
    loadIndex(input.dataset.peopleIndex, function (body) {
      people = (body && body.people) || [];
      state.textContent = body ? t("index_ready", { count: people.length }) : t("index_missing");
      document.documentElement.dataset.peopleIndex = body ? "ready" : "missing";
      render(list, people, input.value.trim().toLowerCase());
    });
    input.addEventListener("input", function () { render(list, people, input.value.trim().toLowerCase()); });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
