/* Doorstep outbox core (v1): the IndexedDB queue of field writes and the flush to /api/sync.
 *
 * Shared by the pages (<script>) and the service worker (importScripts), so it touches no
 * DOM. Modelled on Workbox's background-sync queue: plain records, replayed oldest first,
 * removed only once the server acknowledged them, kept on any doubt.
 *
 * What must hold:
 * - A record belongs to the user who made it (`owner`); nothing here lists or sends another
 *   owner's records.
 * - A record leaves the store only on applied / duplicate / merged. A rejected one stays, with
 *   its errors, until the worker fixes it (the fix is a new record with a new id, in the old
 *   one's place in the queue). People refused only for want of their household go again by
 *   themselves once that household is acknowledged.
 * - Only the DESIGN §4 envelope goes over the wire; local fields (state, errors, owner, urls)
 *   never do.
 */
(function (global) {
  "use strict";

  var DB_NAME = "doorstep";
  var DB_VERSION = 1;
  var RECORDS = "records";
  var META = "meta";
  var BATCH_SIZE = 100;
  var MAX_ROUNDS = 20; // batches per flush, so a month offline still drains in one go
  var SYNC_URL = "/api/sync";
  var ACKNOWLEDGED = { applied: true, duplicate: true, merged: true };
  var WIRE_FIELDS = ["id", "type", "entity_id", "base_version", "client_time", "data"];
  var dbPromise = null;

  // -- IndexedDB, promisified just enough ---------------------------------------------------

  function open() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var request = global.indexedDB.open(DB_NAME, DB_VERSION);
        request.onupgradeneeded = function () {
          var db = request.result;
          if (!db.objectStoreNames.contains(RECORDS)) {
            db.createObjectStore(RECORDS, { keyPath: "id" }).createIndex("owner", "owner");
          }
          if (!db.objectStoreNames.contains(META)) {
            db.createObjectStore(META, { keyPath: "key" });
          }
        };
        request.onsuccess = function () {
          var db = request.result;
          db.onversionchange = function () { db.close(); dbPromise = null; };
          resolve(db);
        };
        request.onerror = function () { dbPromise = null; reject(request.error); };
      });
    }
    return dbPromise;
  }

  /* Run fn(stores...) in one transaction; resolves with fn's value once the transaction commits. */
  function transact(names, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(names, mode);
        var value;
        tx.oncomplete = function () { resolve(value); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
        value = fn.apply(null, names.map(function (n) { return tx.objectStore(n); }));
      });
    });
  }

  function requestValue(request, box) {
    request.onsuccess = function () { box.value = request.result; };
    return box;
  }

  function getMeta(key) {
    var box = {};
    return transact([META], "readonly", function (meta) { requestValue(meta.get(key), box); })
      .then(function () { return box.value ? box.value.value : null; });
  }

  function setMeta(key, value) {
    return transact([META], "readwrite", function (meta) { meta.put({ key: key, value: value }); });
  }

  function get(id) {
    var box = {};
    return transact([RECORDS], "readonly", function (store) { requestValue(store.get(id), box); })
      .then(function () { return box.value || null; });
  }

  /* All records of one owner, oldest first. */
  function list(owner) {
    if (!owner) { return Promise.resolve([]); }
    var box = {};
    return transact([RECORDS], "readonly", function (store) {
      requestValue(store.index("owner").getAll(owner), box);
    }).then(function () {
      return (box.value || []).sort(function (a, b) {
        return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
      });
    });
  }

  function counts(owner) {
    return list(owner).then(function (records) {
      var pending = records.filter(function (r) { return r.state === "pending"; }).length;
      return { pending: pending, rejected: records.length - pending };
    });
  }

  /* Store a new record; a record it fixes (`replaces`) goes in the same transaction, and the
   * fix takes the replaced record's place in the queue: records go out oldest first, and a
   * household corrected after people were added to it must still reach the server before them. */
  function add(record, replaces) {
    return transact([RECORDS], "readwrite", function (store) {
      if (!replaces) { store.put(record); return; }
      store.get(replaces).onsuccess = function (event) {
        var old = event.target.result;
        if (old && old.owner === record.owner) { record.created_at = old.created_at; }
        store.delete(replaces);
        store.put(record);
      };
    }).then(announce);
  }

  function remove(id) {
    return transact([RECORDS], "readwrite", function (store) { store.delete(id); }).then(announce);
  }

  // -- records --------------------------------------------------------------------------------

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* ISO 8601 in the phone's own time zone with milliseconds, e.g. 2026-11-22T09:14:03.250+08:00
     (the merge orders edits by this time; whole seconds would tie two quick edits). */
  function localIso(date) {
    var offset = -date.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
      "." + String(date.getMilliseconds()).padStart(3, "0") + sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60);
  }

  function newRecord(fields) {
    var now = new Date();
    return {
      id: global.crypto.randomUUID(),
      owner: fields.owner,
      type: fields.type,
      entity_id: fields.entity_id,
      base_version: fields.base_version == null ? null : fields.base_version,
      client_time: localIso(now),
      data: fields.data,
      state: "pending",
      errors: null,
      attempts: 0,
      created_at: now.toISOString(),
      form_url: fields.form_url || null, // where a rejected record is reopened for fixing
      labels: fields.labels || null, // what the form showed for chosen ids (a group's name); never sent
    };
  }

  function wire(record) {
    var out = {};
    WIRE_FIELDS.forEach(function (name) { out[name] = record[name]; });
    return out;
  }

  /* Register pages showing this record's entity: refreshed after it reached the server.
   * Keep in step with the routes of webapp/register/views.py. */
  function pagesFor(type, entityId, data) {
    data = data || {};
    if (type === "person") {
      return ["/people/" + entityId].concat(data.household_id ? ["/households/" + data.household_id] : []);
    }
    if (type === "visit" && data.household_id) {
      return ["/households/" + data.household_id, "/households/" + data.household_id + "/visits", "/today"];
    }
    if (type === "household") {
      return ["/households/" + entityId].concat(data.group_id ? ["/groups/" + data.group_id] : []);
    }
    return [];
  }

  /* Pages to re-fetch after a sync: the index, what was acknowledged, what others changed. */
  function pagesAfterSync(summary) {
    var urls = ["/"].concat(summary.urls || []);
    (summary.changes || []).forEach(function (change) {
      urls = urls.concat(pagesFor(change.entity, change.entity_id, change.data));
    });
    return urls;
  }

  function deviceId() {
    return getMeta("device_id").then(function (id) {
      if (id) { return id; }
      id = global.crypto.randomUUID();
      return setMeta("device_id", id).then(function () { return id; });
    });
  }

  // -- flush ----------------------------------------------------------------------------------

  var channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("doorstep-outbox") : null;
  var listeners = [];

  /* Tell this context's listeners and every other page and the worker that the outbox moved. */
  function announce() {
    if (channel) { channel.postMessage({ type: "changed" }); }
    listeners.forEach(function (fn) { fn(); });
  }
  if (channel) {
    channel.onmessage = function () { listeners.forEach(function (fn) { fn(); }); };
  }

  function failure(owner, reason, detail) {
    return setMeta("failure:" + owner, { reason: reason, detail: detail || "", at: new Date().toISOString() })
      .then(function () { announce(); return { ok: false, reason: reason, detail: detail || "" }; });
  }

  /* Apply one response: drop acknowledged records, mark rejected ones, leave the rest pending. */
  function applyResults(sent, results) {
    var byId = {};
    sent.forEach(function (r) { byId[r.id] = r; });
    return transact([RECORDS], "readwrite", function (store) {
      (results || []).forEach(function (result) {
        var record = byId[result.id];
        if (!record) { return; }
        if (ACKNOWLEDGED[result.status]) {
          store.delete(record.id);
        } else if (result.status === "rejected") {
          record.state = "rejected";
          record.errors = result.errors || {};
          store.put(record);
        }
      });
    });
  }

  /* People refused only because their household was not on the server yet go again once that
   * household has been acknowledged (the worker fixed and resent it). As new records: the server
   * keeps the refused record's id for good. Resolves with how many went back in the queue. */
  function requeueWaitingFor(owner, householdIds) {
    if (!householdIds.length) { return Promise.resolve(0); }
    return list(owner).then(function (records) {
      var again = records.filter(function (r) {
        return r.state === "rejected" && r.type === "person" && r.data &&
          householdIds.indexOf(r.data.household_id) >= 0 && Object.keys(r.errors || {}).join() === "household_id";
      });
      return Promise.all(again.map(function (r) {
        return add(newRecord({ owner: r.owner, type: r.type, entity_id: r.entity_id, base_version: r.base_version,
                               data: r.data, form_url: r.form_url, labels: r.labels }), r.id);
      })).then(function () { return again.length; });
    });
  }

  function markAttempt(records) {
    return transact([RECORDS], "readwrite", function (store) {
      records.forEach(function (r) { r.attempts = (r.attempts || 0) + 1; store.put(r); });
    });
  }

  function postBatch(owner, csrf, records) {
    return Promise.all([deviceId(), getMeta("cursor:" + owner)]).then(function (values) {
      var headers = { "Content-Type": "application/json", "Accept": "application/json" };
      if (csrf) { headers["X-CSRFToken"] = csrf; }
      return global.fetch(SYNC_URL, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: headers,
        // user_id: the server refuses the batch if the session now belongs to someone else.
        body: JSON.stringify({ device_id: values[0], cursor: values[1], user_id: owner,
                               records: records.map(wire) }),
      });
    });
  }

  function flushUnlocked(owner, csrf) {
    var summary = { ok: true, sent: 0, results: [], changes: [], urls: [] };
    function round(n) {
      return list(owner).then(function (records) {
        var batch = records.filter(function (r) { return r.state === "pending"; }).slice(0, BATCH_SIZE);
        if (!batch.length) { return summary; }
        return markAttempt(batch).then(function () {
          return postBatch(owner, csrf, batch);
        }).then(function (response) {
          if (response.status === 401) { return failure(owner, "login"); }
          if (!response.ok) { return failure(owner, "http", String(response.status)); }
          return response.json().then(function (body) {
            var households = [];
            (body.results || []).forEach(function (result) {
              var record = batch.filter(function (r) { return r.id === result.id; })[0];
              if (record && ACKNOWLEDGED[result.status]) {
                summary.urls = summary.urls.concat(pagesFor(record.type, record.entity_id, record.data));
                if (record.type === "household") { households.push(record.entity_id); }
              }
            });
            var requeued = 0;
            return applyResults(batch, body.results).then(function () {
              return requeueWaitingFor(owner, households).then(function (n) { requeued = n; });
            }).then(function () {
              return body.cursor ? setMeta("cursor:" + owner, body.cursor) : null;
            }).then(function () {
              summary.sent += batch.length;
              summary.results = summary.results.concat(body.results || []);
              summary.changes = summary.changes.concat(body.changes || []);
              var more = batch.length === BATCH_SIZE || body.more || requeued > 0;
              return more && n + 1 < MAX_ROUNDS ? round(n + 1) : summary;
            });
          });
        }, function (error) {
          return failure(owner, "network", String(error && error.message || error));
        });
      });
    }
    return round(0).then(function (result) {
      if (!result.ok) { return result; }
      return Promise.all([
        setMeta("synced:" + owner, new Date().toISOString()),
        setMeta("failure:" + owner, null),
      ]).then(function () { announce(); return result; });
    });
  }

  /* Send the owner's pending records. One flush at a time across pages and the worker
   * (Web Locks); `wait: false` gives up at once when another flush is running. */
  function flush(options) {
    options = options || {};
    var ownerPromise = options.owner ? Promise.resolve(options.owner) : getMeta("owner");
    return ownerPromise.then(function (owner) {
      if (!owner) { return { ok: false, reason: "no-owner" }; }
      var csrfPromise = options.csrf ? Promise.resolve(options.csrf) : getMeta("csrf:" + owner);
      return csrfPromise.then(function (csrf) {
        var locks = global.navigator && global.navigator.locks;
        if (!locks) { return flushUnlocked(owner, csrf); }
        return locks.request("doorstep-outbox-flush", { ifAvailable: options.wait === false }, function (lock) {
          return lock ? flushUnlocked(owner, csrf) : { ok: false, reason: "busy" };
        });
      });
    });
  }

  /* Status for the header: counts, last sync, last failure. */
  function status(owner) {
    return Promise.all([counts(owner), getMeta("synced:" + owner), getMeta("failure:" + owner)])
      .then(function (v) { return { pending: v[0].pending, rejected: v[0].rejected, synced: v[1], failure: v[2] }; });
  }

  global.Outbox = {
    open: open,
    getMeta: getMeta,
    setMeta: setMeta,
    get: get,
    list: list,
    counts: counts,
    status: status,
    add: add,
    remove: remove,
    newRecord: newRecord,
    localIso: localIso,
    pagesFor: pagesFor,
    pagesAfterSync: pagesAfterSync,
    flush: flush,
    onChange: function (fn) { listeners.push(fn); },
  };
})(self);
