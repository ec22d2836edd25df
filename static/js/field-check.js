/* Tell the worker, before anything is lost, where this browser falls short.
 *
 * - No service worker or no IndexedDB (in-app browsers of messaging apps): pages work online,
 *   nothing can be kept on the phone. Say so and how to open the system browser; a form sent
 *   while offline is stopped here and stays filled in, instead of vanishing into an error page.
 * - Storage: when the browser will not promise to keep our data (persist refused) while
 *   records wait to sync, or when the quota is nearly used up, say what to do now.
 */
(function () {
  "use strict";
  var D = window.Doorstep;
  var box = document.getElementById("field-notices");
  if (!D || !box || !D.owner) { return; }
  var LOW_FREE_BYTES = 20 * 1024 * 1024;
  var LOW_SHARE = 0.9;

  function show(kind, text) {
    var old = box.querySelector('[data-field-notice="' + kind + '"]');
    if (old) { old.remove(); }
    box.appendChild(D.el("p", { "class": "field-notice", "data-field-notice": kind, role: "alert", text: text }));
  }

  var noOffline = false;
  function onlineOnly() {
    if (noOffline) { return; }
    noOffline = true;
    show("no-offline", D.t("no_offline"));
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (navigator.onLine !== false || !form.method || form.method.toLowerCase() !== "post") { return; }
      event.preventDefault();
      event.stopImmediatePropagation();
      show("not-saved", D.t("not_saved_offline"));
    }, true);
  }
  document.addEventListener("doorstep:no-offline", onlineOnly);
  // outbox.js may have found out already (before this script ran), or finds out later.
  if (!("serviceWorker" in navigator) || !window.indexedDB || "noOffline" in document.documentElement.dataset) {
    onlineOnly();
    return;
  }

  var storage = navigator.storage;
  if (!storage) { return; }
  if (storage.estimate) {
    storage.estimate().then(function (e) {
      if (!e || !e.quota) { return; }
      if (e.quota - e.usage < LOW_FREE_BYTES || e.usage / e.quota > LOW_SHARE) {
        show("storage-low", D.t("storage_low", { free: Math.max(0, Math.round((e.quota - e.usage) / 1048576)) }));
      }
    }).catch(function () {});
  }
  function checkPersisted() {
    if (!storage.persisted || !window.Outbox) { return; }
    Promise.all([storage.persisted(), window.Outbox.status(D.owner)]).then(function (v) {
      var old = box.querySelector('[data-field-notice="not-persisted"]');
      if (!v[0] && v[1].pending) { show("not-persisted", D.t("not_persisted")); } else if (old) { old.remove(); }
    }).catch(function () {});
  }
  checkPersisted();
  if (window.Outbox && window.Outbox.onChange) { window.Outbox.onChange(checkPersisted); }
})();
