/* Doorstep pages and the outbox (v1): every field write is an outbox record first.
 *
 * - Forms marked data-outbox="person|household" are saved to IndexedDB (outbox-core.js), then
 *   sent by the one flush. Without JavaScript, IndexedDB or service workers they post as before.
 * - Flush: right after a write, on load, on `online`, by Background Sync, and on a timer that
 *   backs off up to 5 minutes.
 * - #sync-status shows waiting / rejected counts, the last sync, a failure, offline readiness.
 * - Records are the signed-in user's (<meta name="user-id">); other users' are never shown.
 */
(function () {
  "use strict";

  var Outbox = window.Outbox;
  var MAX_BACKOFF_MS = 5 * 60 * 1000;
  var FIRST_BACKOFF_MS = 5000;
  var SAVE_WAIT_MS = 4000; // how long a save waits for the server before moving on
  var FLASH_KEY = "doorstep-flash";

  function metaContent(name) {
    var meta = document.querySelector('meta[name="' + name + '"]');
    return meta ? meta.getAttribute("content") : null;
  }

  var owner = metaContent("user-id");
  var csrf = metaContent("csrf-token");
  var strings = JSON.parse((document.getElementById("i18n") || {}).textContent || "{}");
  var usable = Boolean(Outbox && window.indexedDB && window.crypto && window.crypto.randomUUID &&
                       "serviceWorker" in navigator);
  var state = { pending: 0, rejected: 0, synced: null, failure: null, ready: false };
  var backoff = 0;
  var retryTimer = null;

  /* t("waiting", {count: 2}) → "2 条待同步" */
  function t(key, values) {
    var text = strings[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attrs.text; } else { node.setAttribute(name, attrs[name]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function shortTime(iso) {
    var d = new Date(iso);
    var today = new Date().toDateString() === d.toDateString();
    var time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return today ? time : d.toLocaleDateString() + " " + time;
  }

  // -- status line ----------------------------------------------------------------------------

  function failureText(failure) {
    if (!failure) { return ""; }
    return t("failed", { reason: t("reason_" + failure.reason, { detail: failure.detail }) });
  }

  function renderStatus() {
    var box = document.getElementById("sync-status");
    if (!box || !owner) { return; }
    var parts = [];
    var link = el("a", { href: "/outbox", "class": "sync-count", "data-pending-count": String(state.pending) },
                  [document.createTextNode(state.pending ? t("waiting", { count: state.pending }) : t("all_synced"))]);
    parts.push(link);
    if (state.rejected) {
      parts.push(el("a", { href: "/outbox", "class": "sync-rejected", "data-rejected-count": String(state.rejected),
                           text: t("rejected", { count: state.rejected }) }));
    }
    // "Never synced" only when something waits: beside "all synced" it would read as a contradiction.
    if (state.synced || state.pending || state.rejected) {
      parts.push(el("span", { "class": "sync-time", text: state.synced ? t("last_sync", { time: shortTime(state.synced) })
                                                                        : t("never_synced") }));
    }
    if (state.failure) {
      parts.push(el("span", { "class": "sync-failure", "data-reason": state.failure.reason, text: failureText(state.failure) }));
    }
    if (state.ready) { parts.push(el("span", { "class": "sync-ready", text: t("ready_offline") })); }
    box.replaceChildren.apply(box, parts);
  }

  function refreshStatus() {
    if (!usable || !owner) { return Promise.resolve(); }
    return Outbox.status(owner).then(function (s) {
      state.pending = s.pending;
      state.rejected = s.rejected;
      state.synced = s.synced;
      state.failure = s.failure;
      renderStatus();
      markPendingInLists();
      markPendingEvents();
      document.dispatchEvent(new CustomEvent("outbox:changed"));
    });
  }

  // -- flushing -------------------------------------------------------------------------------

  function scheduleRetry() {
    clearTimeout(retryTimer);
    if (!state.pending) { backoff = 0; return; }
    backoff = backoff ? Math.min(backoff * 2, MAX_BACKOFF_MS) : FIRST_BACKOFF_MS;
    retryTimer = setTimeout(flushNow, backoff);
  }

  /* Send this user's pending records now. Resolves with the flush summary. */
  function flushNow(options) {
    if (!usable || !owner) { return Promise.resolve(null); }
    return Outbox.flush({ owner: owner, csrf: csrf, wait: !(options && options.skipIfBusy) })
      .then(function (summary) {
        if (summary.ok) {
          backoff = 0;
          if (summary.sent) { tellWorker({ type: "synced", urls: Outbox.pagesAfterSync(summary) }); }
        }
        return refreshStatus().then(function () {
          if (summary.reason === "network" || summary.reason === "http") {
            scheduleRetry();
            askBackgroundSync(); // so the worker sends it even if this page is closed
          }
          return summary;
        });
      }, function () { scheduleRetry(); return null; });
  }

  function askBackgroundSync() {
    if (!navigator.serviceWorker) { return; }
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) { return registration.sync.register("outbox"); }
    }).catch(function () { /* not supported or not allowed: the timer and `online` still flush */ });
  }

  // -- the service worker ---------------------------------------------------------------------

  function tellWorker(message) {
    var worker = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (worker) { worker.postMessage(message); }
  }

  function ask(worker, message) {
    return new Promise(function (resolve) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function (event) { resolve(event.data || {}); };
      worker.postMessage(message, [channel.port2]);
    });
  }

  /* The active worker controlling this page. A page whose navigation began before the worker
   * activated is not claimed with the others: ask the worker to claim it. */
  function controlled() {
    return navigator.serviceWorker.ready.then(function (registration) {
      if (navigator.serviceWorker.controller) { return navigator.serviceWorker.controller; }
      return new Promise(function (resolve) {
        navigator.serviceWorker.addEventListener("controllerchange", function () {
          resolve(navigator.serviceWorker.controller);
        }, { once: true });
        registration.active.postMessage({ type: "claim" });
      });
    });
  }

  /* Register /sw.js; once it controls this page and holds the shell, say "ready offline". */
  function startWorker() {
    if (!("serviceWorker" in navigator)) { return; }
    var registered = navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (registration) {
      if (!registration) { throw new Error("no service worker registration"); } // blocked by the browser
      return registration;
    });
    registered.catch(function () {
      if (navigator.onLine === false) { return; } // no signal to fetch it: says nothing about the browser
      // This browser will not run the worker (an in-app browser): nothing can be kept for
      // offline use, so forms go straight to the server, and field-check.js tells the worker.
      usable = false;
      document.documentElement.dataset.noOffline = "1";
      document.dispatchEvent(new CustomEvent("doorstep:no-offline"));
    });
    registered.then(function () {
      return controlled();
    }).then(function (worker) {
      return ask(worker, { type: "hello", url: location.href.split("#")[0], signedIn: Boolean(owner),
                           owner: owner || null });
    }).then(function (reply) {
      if (!reply.ready) { return; }
      state.ready = true;
      document.documentElement.dataset.offlineReady = "1";
      renderStatus();
    }).catch(function () { /* no worker: pages work online, the outbox still works */ });
  }

  // -- saving forms to the outbox -------------------------------------------------------------

  function formData(form) {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      var name = field.name;
      if (!name || name === "csrf_token" || field.disabled || field.type === "submit" || field.tagName === "BUTTON") {
        return;
      }
      if (field.type === "checkbox" && field.hasAttribute("data-many")) {
        data[name] = (data[name] || []).concat(field.checked ? [field.value] : []); // select many: a list
      } else if (field.type === "checkbox") {
        data[name] = field.checked;
      } else if (field.type === "radio") {
        if (field.checked) { data[name] = field.value; } else if (!(name in data)) { data[name] = null; }
      } else {
        data[name] = field.value;
      }
    });
    return data;
  }

  function fillForm(form, data) {
    Object.keys(data || {}).forEach(function (name) {
      var fields = form.querySelectorAll('[name="' + name + '"]');
      Array.prototype.forEach.call(fields, function (field) {
        if (field.type === "checkbox" && Array.isArray(data[name])) { field.checked = data[name].indexOf(field.value) >= 0; }
        else if (field.type === "checkbox") { field.checked = Boolean(data[name]); }
        else if (field.type === "radio") { field.checked = field.value === data[name]; }
        else if (field.type !== "hidden") { field.value = data[name] == null ? "" : data[name]; }
      });
    });
  }

  /* Server field errors next to their fields, as the server-rendered form shows them. */
  function showErrors(form, errors, intro) {
    form.querySelectorAll(".field-error, .form-errors").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
    var general = [];
    Object.keys(errors || {}).forEach(function (name) {
      var messages = [].concat(errors[name]).join(" ");
      var field = form.querySelector('[name="' + name + '"]');
      if (!field || field.type === "hidden") { general.push(messages); return; }
      var anchor = field.type === "radio" || field.type === "checkbox" ? field.closest("fieldset") || field : field;
      var message = el("p", { "class": "field-error", id: name + "-error", role: "alert", text: messages });
      anchor.setAttribute("aria-invalid", "true");
      anchor.setAttribute("aria-describedby", name + "-error");
      anchor.insertAdjacentElement("afterend", message);
    });
    var box = el("div", { "class": "form-errors error", role: "alert" },
                 [el("p", { text: intro || t("fix_intro") })].concat(general.map(function (m) { return el("p", { text: m }); })));
    form.insertAdjacentElement("afterbegin", box);
    var first = form.querySelector('[aria-invalid="true"]');
    (first || box).scrollIntoView({ block: "center" });
  }

  function flash(message) {
    var main = document.getElementById("main");
    if (!main) { return; }
    var box = main.querySelector(".flashes");
    if (!box) { box = el("div", { "class": "flashes" }); main.insertAdjacentElement("afterbegin", box); }
    box.querySelectorAll("[data-outbox-flash]").forEach(function (old) { old.remove(); });
    var line = el("p", { "class": "flash flash-success", role: "status", "data-outbox-flash": "", text: message });
    box.appendChild(line);
    return line;
  }

  /* The text of each chosen option (a group's name for its id): pages that show a record made
   * offline have no server copy to look the name up in. */
  function choiceLabels(form) {
    var labels = {};
    form.querySelectorAll("select[name]").forEach(function (select) {
      var option = select.options[select.selectedIndex];
      if (option && option.value) { labels[select.name] = option.textContent.trim(); }
    });
    return labels;
  }

  function recordFromForm(form) {
    var baseVersion = parseInt(form.dataset.baseVersion, 10);
    return Outbox.newRecord({
      owner: owner,
      type: form.dataset.outbox,
      entity_id: form.dataset.entityId || window.crypto.randomUUID(), // a create makes its id here
      base_version: isNaN(baseVersion) ? null : baseVersion,
      data: formData(form),
      form_url: location.pathname + location.search,
      labels: choiceLabels(form),
    });
  }

  function resultFor(summary, id) {
    return summary && summary.results ? summary.results.filter(function (r) { return r.id === id; })[0] : null;
  }

  function nextUrl(form, record, acknowledged) {
    if (record.type === "household" && record.base_version == null && !acknowledged) {
      return unsyncedHouseholdUrl(record.entity_id); // no page on the server yet
    }
    return (form.dataset.nextUrl || "/").replace("ENTITY_ID", record.entity_id);
  }

  function onSubmit(event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-outbox]") || !usable || !owner) { return; }
    event.preventDefault();
    if (!form.reportValidity()) { return; }
    var button = form.querySelector('[type="submit"]');
    if (button) { button.disabled = true; }
    var record = recordFromForm(form);
    var replaces = form.dataset.replaces || null;
    var saved = null;
    Outbox.add(record, replaces).then(function () {
      saved = flash(t("saved_waiting"));
      refreshStatus();
      var timeout = new Promise(function (resolve) { setTimeout(resolve, SAVE_WAIT_MS, null); });
      return Promise.race([flushNow(), timeout]);
    }).then(function (summary) {
      var result = resultFor(summary, record.id);
      if (result) { return result; }
      // Sent by another flush (another tab, the worker)? Then it is gone, or came back rejected.
      return Outbox.get(record.id).then(function (kept) {
        if (!kept) { return { status: "applied" }; }
        return kept.state === "rejected" ? { status: "rejected", errors: kept.errors } : null;
      });
    }).then(function (result) {
      if (result && result.status === "rejected") {
        // Stay on the form: the record is kept as rejected; saving again replaces it.
        form.dataset.replaces = record.id;
        form.dataset.entityId = form.dataset.entityId || record.entity_id;
        if (button) { button.disabled = false; }
        if (saved) { saved.remove(); }
        showErrors(form, result.errors);
        return;
      }
      var acknowledged = Boolean(result);
      sessionStorage.setItem(FLASH_KEY, acknowledged ? t("saved") : t("saved_waiting"));
      location.assign(nextUrl(form, record, acknowledged));
    }).catch(function () {
      if (button) { button.disabled = false; }
      form.removeAttribute("data-outbox"); // IndexedDB failed: let the server take the form
      form.requestSubmit();
    });
  }

  // -- unsynced entities in lists -------------------------------------------------------------

  /* The kept frame that shows a household made on this phone (register.household_unsynced). */
  function unsyncedHouseholdUrl(entityId) {
    return "/households/unsynced#" + entityId;
  }

  function markPendingInLists() {
    var lists = document.querySelectorAll("ul[data-pending]");
    if (!lists.length) { return; }
    Outbox.list(owner).then(function (records) {
      lists.forEach(function (list) {
        list.querySelectorAll("li[data-outbox-record]").forEach(function (li) { li.remove(); });
        list.querySelectorAll(".tag-unsynced").forEach(function (tag) { tag.remove(); });
        records.filter(function (r) {
          return r.type === list.dataset.pending && r.data && r.data[list.dataset.parentField] === list.dataset.parentId;
        }).forEach(function (record) { showPending(list, record); });
      });
    });
  }

  /* Rows marked data-pending-event="TYPE:FIELD:VALUE" (e.g. a notice slip) show that a record
   * about them waits on the phone, and hide their form so the same fact is not entered twice. */
  function markPendingEvents() {
    var rows = document.querySelectorAll("[data-pending-event]");
    if (!rows.length) { return; }
    Outbox.list(owner).then(function (records) {
      rows.forEach(function (row) {
        var parts = row.dataset.pendingEvent.split(":");
        var waiting = records.filter(function (r) {
          return r.type === parts[0] && r.data && String(r.data[parts[1]]) === parts[2];
        })[0];
        row.querySelectorAll(".tag-unsynced").forEach(function (tag) { tag.remove(); });
        var form = row.querySelector("form[data-outbox]");
        if (form) { form.hidden = Boolean(waiting); }
        if (waiting) {
          var title = row.querySelector("strong");
          var tag = el("span", { "class": "tag tag-unsynced", text: " " + t(waiting.state === "rejected" ? "rejected_one" : "unsynced") });
          (title || row).insertAdjacentElement("afterend", tag);
        }
      });
    });
  }

  function showPending(list, record) {
    var tag = el("span", { "class": "tag tag-unsynced", text: t("unsynced") });
    var existing = list.querySelector('li[data-entity-id="' + record.entity_id + '"] > a');
    if (existing) { existing.querySelector("strong").appendChild(tag); return; }
    var data = record.data;
    var title = record.type === "person" ? data.name : (data.number ? data.number + " · " : "") + data.address;
    var empty = list.querySelector("li.empty");
    if (empty) { empty.remove(); }
    list.insertAdjacentElement("afterbegin", el("li", { "data-outbox-record": record.id, "data-entity-id": record.entity_id }, [
      el("a", { href: record.type === "household" && record.base_version == null ? unsyncedHouseholdUrl(record.entity_id)
                                                                                  : "/outbox#r-" + record.id },
         [el("strong", { text: (title || t("no_name")) + " " }, [tag])]),
    ]));
  }

  // -- logging out ----------------------------------------------------------------------------

  function onLogout(event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.logout") || !owner) { return; }
    var waiting = state.pending + state.rejected;
    if (waiting && !window.confirm(t("logout_confirm", { count: waiting }))) {
      event.preventDefault();
      return;
    }
    tellWorker({ type: "logout" }); // the kept pages are this user's: drop them
    if (usable) { Outbox.setMeta("owner", null); }
  }

  // -- start ----------------------------------------------------------------------------------

  function start() {
    var message = sessionStorage.getItem(FLASH_KEY);
    if (message) { sessionStorage.removeItem(FLASH_KEY); flash(message); }
    if (!usable) { return; }
    document.addEventListener("submit", onLogout);
    document.addEventListener("submit", onSubmit);
    Outbox.onChange(refreshStatus);
    // The worker flushes for whoever is signed in now, with this page's CSRF token. The
    // offline page is the same for everyone: it says nothing about who is signed in.
    if (!("shellPage" in document.documentElement.dataset)) {
      Outbox.setMeta("owner", owner).then(function () {
        return owner ? Outbox.setMeta("csrf:" + owner, csrf) : null;
      }).catch(function () { usable = false; });
    }
    startWorker();
    if (!owner) { return; }
    refreshStatus().then(function () { if (state.pending) { flushNow({ skipIfBusy: true }); } });
    window.addEventListener("online", function () { backoff = 0; flushNow({ skipIfBusy: true }); });
    if (navigator.storage && navigator.storage.persist && !localStorage.getItem("doorstep-persist-asked")) {
      localStorage.setItem("doorstep-persist-asked", "1");
      navigator.storage.persist().catch(function () {});
    }
  }

  window.Doorstep = {
    t: t,
    strings: strings,
    el: el,
    owner: owner,
    usable: function () { return usable; },
    shortTime: shortTime,
    formData: formData,
    fillForm: fillForm,
    showErrors: showErrors,
    flushNow: flushNow,
    refreshStatus: refreshStatus,
    markPendingInLists: markPendingInLists,
    unsyncedHouseholdUrl: unsyncedHouseholdUrl,
  };

  start();
})();
