/* The worker's "today" screen (/today): the outbox count, and finding people offline.
 *
 * The people index (/today/people.json: names, pinyin keys, households of the worker's
 * villages) is kept in the service worker's page cache, which is per user and emptied at
 * logout; when the phone is offline the kept copy is searched. Searching happens here, in
 * the page: no request leaves the phone.
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

  function loadIndex(url) {
    var cached = function () {
      if (!window.caches) { return Promise.resolve(null); }
      return caches.open(PAGES_CACHE).then(function (cache) { return cache.match(url); })
        .then(function (hit) { return hit ? hit.json() : null; });
    };
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
      if (window.caches) {
        var copy = response.clone();
        caches.open(PAGES_CACHE).then(function (cache) { return cache.put(url, copy); });
      }
      return response.json();
    }).catch(cached);
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
    loadIndex(input.dataset.peopleIndex).then(function (body) {
      people = (body && body.people) || [];
      state.textContent = body ? t("index_ready", { count: people.length }) : t("index_missing");
      document.documentElement.dataset.peopleIndex = body ? "ready" : "missing";
      render(list, people, input.value.trim().toLowerCase());
    });
    input.addEventListener("input", function () { render(list, people, input.value.trim().toLowerCase()); });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
