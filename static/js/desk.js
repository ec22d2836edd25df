/* The sign-in desk (/desk/<day_id>): find a person in the cached roster and sign them in, offline too.
 *
 * What the page shows is computed here from three sources, so it survives a day without signal:
 * - the roster (/desk/<day>/roster.json), kept in the per-user page cache (emptied at logout);
 * - the day's events from the server: a snapshot (/desk/<day>/events.json) then everything
 *   pulled from /api/sync after its cursor, kept in the outbox database's meta store;
 * - the records this device made (sign-in, undo, absence), kept beside them until the server
 *   has them, and the outbox's state for each (waiting, refused).
 * fold() turns the events into attendance by the server's rule (webapp/desk/sync_rules.py):
 * per person the earliest sign-in not undone counts, later ones are duplicates; the latest
 * absence stands. Writes are outbox records like every other field write.
 */
(function () {
  "use strict";

  var root = document.getElementById("desk");
  if (!root || !window.DeskSearch) { return; }
  var Outbox = window.Outbox;
  var D = window.Doorstep || {};
  var PAGES_CACHE = "doorstep-pages"; // static/sw.js
  var EVENT_TYPES = { signin: true, signin_undo: true, absence: true };
  var PULL_EVERY_MS = 15000;
  var MAX_PULL_ROUNDS = 20;
  var LABEL_KEY = "doorstep-desk-label";

  var dayId = root.dataset.dayId;
  var canSign = Boolean(root.dataset.canSign);
  var owner = D.owner || (document.querySelector('meta[name="user-id"]') || {}).content;
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content;
  var metaKey = "desk:" + owner + ":" + dayId;
  var mineKey = "desk-mine:" + owner + ":" + dayId;

  var state = {
    people: [], byId: {}, invited: null, roster: false,
    server: { cursor: null, events: {} }, // record_id -> change
    mine: {}, // record_id -> record made here
    outbox: {}, // record_id -> outbox state (pending | rejected) while it waits
    view: null,
  };

  var input = document.getElementById("desk-q");
  var results = document.getElementById("desk-results");
  var notice = document.getElementById("desk-notice");
  var stateLine = document.getElementById("desk-state");
  var labelInput = document.getElementById("desk-label");

  function t(key, values) { return D.t ? D.t(key, values) : key; }
  function el(tag, attrs, children) { return D.el(tag, attrs, children); }

  // -- loading ----------------------------------------------------------------------------------

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
        return response;
      });
  }

  /* `url`'s JSON from the network, a copy kept in the page cache for offline use. */
  function fetchAndKeep(url) {
    return fetchJson(url).then(function (response) {
      if (window.caches) {
        var copy = response.clone();
        caches.open(PAGES_CACHE).then(function (c) { return c.put(url, copy); }).catch(function () {});
      }
      return response.json();
    });
  }

  /* The kept copy of `url`'s JSON (the desk's own, or fetched ahead by static/sw.js), or null. */
  function keptJson(url) {
    if (!window.caches) { return Promise.resolve(null); }
    return caches.open(PAGES_CACHE).then(function (c) { return c.match(url); })
      .then(function (hit) { return hit ? hit.json() : null; });
  }

  /* The roster from the network (kept for later), else the kept copy. */
  function loadRoster() {
    var url = root.dataset.rosterUrl;
    return fetchAndKeep(url).catch(function () { return keptJson(url); }).catch(function () { return null; });
  }

  function loadKept() {
    if (!Outbox) { return Promise.resolve(); }
    return Promise.all([Outbox.getMeta(metaKey), Outbox.getMeta(mineKey)]).then(function (v) {
      if (v[0]) { state.server = v[0]; }
      if (v[1]) { state.mine = v[1]; }
    }).catch(function () {});
  }

  function saveServer() { return Outbox ? Outbox.setMeta(metaKey, state.server).catch(function () {}) : null; }
  function saveMine() { return Outbox ? Outbox.setMeta(mineKey, state.mine).catch(function () {}) : null; }

  function seqOf(cursor) {
    var n = cursor ? parseInt(String(cursor).replace(/^c1\./, ""), 10) : NaN;
    return isNaN(n) ? -1 : n;
  }

  /* The server's snapshot replaces what was pulled before (it holds all of it). Offline, the copy
   * fetched ahead (static/sw.js) serves a desk that never opened the day with signal, unless
   * what this desk pulled itself is newer. */
  function loadSnapshot() {
    var url = root.dataset.eventsUrl;
    function use(body) {
      if (!body) { return null; }
      var events = {};
      (body.events || []).forEach(function (change) { events[change.record_id] = change; });
      state.server = { cursor: body.cursor, events: events };
      return saveServer();
    }
    return fetchAndKeep(url).catch(function () {
      return keptJson(url).then(function (kept) {
        return kept && seqOf(kept.cursor) > seqOf(state.server.cursor) ? kept : null;
      });
    }).then(use);
  }

  function deviceId() {
    return Outbox ? Outbox.getMeta("device_id").catch(function () { return null; }) : Promise.resolve(null);
  }

  /* Newer events of the day from /api/sync, from the desk's own cursor (the outbox keeps its own). */
  function pull(round) {
    round = round || 0;
    if (!state.server.cursor || !owner || navigator.onLine === false) { return Promise.resolve(false); }
    return deviceId().then(function (device) {
      var headers = { "Content-Type": "application/json", Accept: "application/json" };
      if (csrf) { headers["X-CSRFToken"] = csrf; }
      return fetch("/api/sync", {
        method: "POST", credentials: "same-origin", cache: "no-store", headers: headers,
        body: JSON.stringify({ device_id: device, cursor: state.server.cursor, user_id: owner, records: [] }),
      });
    }).then(function (response) {
      if (!response.ok) { throw new Error("status " + response.status); }
      return response.json();
    }).then(function (body) {
      (body.changes || []).forEach(function (change) {
        if (EVENT_TYPES[change.entity] && change.data && change.data.day_id === dayId) {
          state.server.events[change.record_id] = change;
        }
      });
      state.server.cursor = body.cursor || state.server.cursor;
      return saveServer().then(function () {
        return body.more && round + 1 < MAX_PULL_ROUNDS ? pull(round + 1) : true;
      });
    }).catch(function () { return false; });
  }

  function loadOutboxStates() {
    if (!Outbox || !owner) { return Promise.resolve(); }
    return Outbox.list(owner).then(function (records) {
      var states = {};
      records.forEach(function (r) { if (state.mine[r.id]) { states[r.id] = r; } });
      state.outbox = states;
    }).catch(function () {});
  }

  // -- the events, folded ------------------------------------------------------------------------

  function localEvent(record) {
    return { entity: record.type, entity_id: record.entity_id, record_id: record.id, data: record.data,
             time_ms: Date.parse(record.client_time), local: true };
  }

  /* Every event known here; a record of ours the server refused does not count. */
  function allEvents() {
    var events = {};
    Object.keys(state.server.events).forEach(function (id) { events[id] = state.server.events[id]; });
    Object.keys(state.mine).forEach(function (id) {
      var waiting = state.outbox[id];
      if (waiting && waiting.state === "rejected") { return; }
      if (!events[id]) { events[id] = localEvent(state.mine[id]); }
      events[id].pending = Boolean(waiting);
    });
    return Object.keys(events).map(function (id) { return events[id]; });
  }

  function keyOf(change) { return (change.data && change.data.person_id) || change.entity_id; }

  function earlier(a, b) {
    if (a.time_ms !== b.time_ms) { return a.time_ms - b.time_ms; }
    return a.record_id < b.record_id ? -1 : 1;
  }

  function fold(events) {
    var undone = {};
    var signins = {};
    var absences = {};
    events.forEach(function (e) {
      if (e.entity === "signin_undo" && e.data) { undone[e.data.signin_id] = e; }
    });
    events.forEach(function (e) {
      if (e.entity === "signin" && !undone[e.record_id]) {
        (signins[keyOf(e)] = signins[keyOf(e)] || []).push(e);
      } else if (e.entity === "absence" && e.data) {
        var before = absences[e.data.person_id];
        if (!before || earlier(before, e) < 0) { absences[e.data.person_id] = e; }
      }
    });
    var attendance = {};
    Object.keys(signins).forEach(function (key) {
      var list = signins[key].sort(earlier);
      attendance[key] = { signin: list[0], duplicates: list.length - 1 };
    });
    return { attendance: attendance, absences: absences };
  }

  function walkInPeople(view) {
    var villages = {};
    document.querySelectorAll("#wi-village option").forEach(function (o) { villages[o.value] = o.textContent; });
    var out = [];
    Object.keys(view.attendance).forEach(function (key) {
      var s = view.attendance[key].signin;
      if (state.byId[key] || !s.data || !s.data.walk_in || s.data.person_id) { return; }
      var w = s.data.walk_in;
      out.push({ id: key, n: w.name || "", p: "", i: "", idt: "", ph: String(w.phone || "").replace(/\D/g, ""),
                 v: villages[w.village_id] || "", g: "", inv: null, walk: true, age: "" });
    });
    return out;
  }

  // -- drawing ------------------------------------------------------------------------------------

  function hhmm(ms) {
    var d = new Date(ms);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function signedText(att) {
    var s = att.signin;
    var desk = s.data && s.data.desk;
    return desk ? t("desk_signed_at_desk", { time: hhmm(s.time_ms), desk: desk }) : t("desk_signed_at", { time: hhmm(s.time_ms) });
  }

  function counts() {
    var view = state.view;
    var signed = 0;
    var walkIns = 0;
    Object.keys(view.attendance).forEach(function (key) {
      var p = state.byId[key];
      if (p && p.inv) { signed += 1; } else { walkIns += 1; }
    });
    setText("desk-signed", signed);
    if (state.invited != null) { setText("desk-invited", state.invited); }
    setText("desk-walkins", walkIns);
  }

  function setText(id, value) {
    var node = document.getElementById(id);
    if (node) { node.textContent = String(value); }
  }

  function showNotice(text, kind) {
    notice.hidden = !text;
    notice.className = "desk-notice flash flash-" + (kind || "success");
    notice.textContent = text || "";
  }

  function describe(p) {
    var bits = [];
    if (p.age !== "" && p.age != null) { bits.push(t("desk_age", { age: p.age })); }
    var sexes = (D.strings && D.strings.values && D.strings.values.sex) || {};
    if (p.sex) { bits.push(sexes[p.sex] || p.sex); }
    bits.push((p.v + " " + p.g).trim());
    if (p.idm) { bits.push(p.idm); }
    if (p.phm) { bits.push(p.phm); }
    if (p.code) { bits.push(t("desk_code", { code: p.code })); }
    return bits.filter(Boolean).join(" · ");
  }

  function row(p) {
    var view = state.view;
    var att = view.attendance[p.id];
    var absence = view.absences[p.id];
    var li = el("li", { "class": "desk-person", "data-person-id": p.id, "data-state": att ? "signed" : absence ? "absent" : "open" });
    var body = el("div", { "class": "row-body" });
    body.appendChild(el("strong", { "class": "desk-name", text: p.n }));
    body.appendChild(el("span", { "class": "muted nums", text: describe(p) }));
    if (p.walk) { body.appendChild(el("span", { "class": "tag tag-late", text: t("desk_walk_in") })); }
    else if (!p.inv) { body.appendChild(el("span", { "class": "tag tag-late", text: t("desk_not_invited") })); }
    else if (p.kind === "certificate") { body.appendChild(el("span", { "class": "tag tag-away", text: t("desk_certificate_asked") })); }
    if (absence && !att) {
      var reasons = (D.strings && D.strings.desk_reasons) || {};
      var text = reasons[absence.data.reason] || absence.data.reason;
      if (absence.data.certificate_on) { text += " · " + t("desk_certificate_on", { date: absence.data.certificate_on, place: absence.data.certificate_place || "" }); }
      body.appendChild(el("span", { "class": "tag tag-away desk-absence-tag", text: text }));
    }
    var actions = el("div", { "class": "actions desk-actions" });
    if (att) {
      var line = el("p", { "class": "desk-signed", text: signedText(att) + (att.signin.pending ? " · " + t("unsynced") : "") });
      body.appendChild(line);
      if (canSign && sameLocalDay(att.signin.time_ms)) {
        actions.appendChild(button(t("desk_undo"), "desk-undo", function () { undo(p, att); }));
      }
    } else if (canSign) {
      if (!p.inv && !p.walk) {
        actions.appendChild(el("input", { "class": "desk-reason", name: "reason", maxlength: "200",
                                          placeholder: t("desk_walk_in_reason"), "aria-label": t("desk_walk_in_reason") }));
      }
      actions.appendChild(button(t("desk_sign_in"), "primary desk-sign", function () { signIn(p, li); }));
    }
    if (!p.walk && !att) {
      actions.appendChild(button(t("desk_absent"), "desk-absent-open", function () { openAbsence(p, li); }));
    }
    body.appendChild(actions);
    li.appendChild(body);
    return li;
  }

  function button(text, cls, onClick) {
    var b = el("button", { type: "button", "class": cls, text: text });
    b.addEventListener("click", onClick);
    return b;
  }

  function sameLocalDay(ms) { return new Date(ms).toDateString() === new Date().toDateString(); }

  function searchable() { return state.people.concat(walkInPeople(state.view)); }

  var lastSignature = null;

  function rowSignature(p) {
    var att = state.view.attendance[p.id];
    var absence = state.view.absences[p.id];
    return [p.id, att ? att.signin.record_id + (att.signin.pending ? "p" : "") : "",
            absence ? absence.record_id : ""].join(":");
  }

  /* Redraw counts and results. Unless `force`d (a new query, a record made here), rows with
   * something being entered (an absence form, a walk-in reason) are left alone. */
  function render(force) {
    state.view = fold(allEvents());
    counts();
    var q = input.value;
    if (!state.roster) { return; }
    var busy = results.querySelector("form.desk-absence") ||
      Array.prototype.some.call(results.querySelectorAll(".desk-reason"), function (r) { return r.value; });
    if (busy && force !== true) { return; }
    var found = window.DeskSearch.search(searchable(), q);
    // Redraw only what changed: a tap must not land on a row being replaced under the finger.
    var signature = q + "|" + found.map(function (hit) { return rowSignature(hit.p); }).join(";");
    if (signature === lastSignature && force !== true) { return; }
    lastSignature = signature;
    results.replaceChildren();
    if (!window.DeskSearch.normalise(q)) { return; }
    if (!found.length) { results.appendChild(el("li", { "class": "empty", text: t("nobody_found") })); }
    found.forEach(function (hit) { results.appendChild(row(hit.p)); });
  }

  // -- writing -----------------------------------------------------------------------------------

  function save(type, data) {
    var record = Outbox.newRecord({ owner: owner, type: type, entity_id: crypto.randomUUID(), data: data,
                                    form_url: location.pathname });
    state.mine[record.id] = record;
    state.outbox[record.id] = record;
    return saveMine().then(function () { return Outbox.add(record); }).then(function () {
      render(true);
      if (D.flushNow) { D.flushNow().then(afterFlush); }
      return record;
    });
  }

  function afterFlush() {
    return loadOutboxStates().then(function () {
      var refused = Object.keys(state.mine).filter(function (id) {
        return state.outbox[id] && state.outbox[id].state === "rejected" && !state.mine[id].shown;
      });
      refused.forEach(function (id) {
        state.mine[id].shown = true;
        var errors = state.outbox[id].errors || {};
        var text = Object.keys(errors).map(function (k) { return [].concat(errors[k]).join(" "); }).join(" ");
        showNotice(t("desk_refused", { reason: text }), "error");
      });
      if (refused.length) { saveMine(); }
      return pull();
    }).then(render);
  }

  function deskLabel() { return labelInput ? labelInput.value.trim().slice(0, 40) : ""; }

  function signIn(p, li) {
    var att = state.view.attendance[p.id];
    if (att) { showNotice(t("desk_already", { when: signedText(att) }), "error"); return; }
    var data = { day_id: dayId };
    if (!p.walk) { data.person_id = p.id; }
    if (deskLabel()) { data.desk = deskLabel(); }
    if (!p.inv && !p.walk) {
      var reason = li.querySelector(".desk-reason");
      if (!reason || !reason.value.trim()) {
        showNotice(t("desk_reason_needed"), "error");
        if (reason) { reason.focus(); }
        return;
      }
      data.walk_in = { reason: reason.value.trim().slice(0, 200) };
    }
    save("signin", data).then(function () {
      showNotice(t("desk_signed_in", { name: p.n }), "success");
      input.select();
    });
  }

  function undo(p, att) {
    if (!window.confirm(t("desk_undo_confirm", { name: p.n }))) { return; }
    save("signin_undo", { day_id: dayId, signin_id: att.signin.record_id, person_id: p.id }).then(function () {
      showNotice(t("desk_undone", { name: p.n }), "success");
    });
  }

  function openAbsence(p, li) {
    var old = li.querySelector("form.desk-absence");
    if (old) { old.remove(); return; }
    var form = document.getElementById("desk-absence-template").content.firstElementChild.cloneNode(true);
    var current = state.view.absences[p.id];
    if (current && D.fillForm) { D.fillForm(form, current.data); }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) { return; }
      var data = { day_id: dayId, person_id: p.id };
      ["reason", "note", "certificate_on", "certificate_place"].forEach(function (name) {
        var value = form.elements[name].value.trim();
        if (value) { data[name] = value; }
      });
      save("absence", data).then(function () { showNotice(t("desk_absence_saved", { name: p.n }), "success"); });
    });
    li.querySelector(".row-body").appendChild(form);
  }

  function onWalkIn(event) {
    var form = event.target;
    if (form.id !== "desk-walkin-form" || !usable()) { return; }
    event.preventDefault();
    if (!form.reportValidity()) { return; }
    var walkIn = {};
    ["name", "village_id", "phone", "reason"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) { walkIn[name] = value; }
    });
    var data = { day_id: dayId, walk_in: walkIn };
    if (deskLabel()) { data.desk = deskLabel(); }
    save("signin", data).then(function () {
      showNotice(t("desk_signed_in", { name: walkIn.name }), "success");
      form.reset();
      document.getElementById("desk-walkin").open = false;
    });
  }

  function usable() { return Boolean(Outbox && owner && D.usable && D.usable()); }

  // -- QR ---------------------------------------------------------------------------------------

  var scanning = null;

  function loadJsQR() {
    if (window.jsQR) { return Promise.resolve(window.jsQR); }
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = root.dataset.jsqrUrl; // the hashed URL the service worker keeps for offline use
      s.onload = function () { resolve(window.jsQR); };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  /* A function(video) -> Promise<text|null>: BarcodeDetector where the browser has one, else jsQR. */
  function decoder() {
    if ("BarcodeDetector" in window) {
      return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
        if (formats.indexOf("qr_code") < 0) { throw new Error("no qr"); }
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return function (video) {
          return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
        };
      }).catch(jsQRDecoder);
    }
    return jsQRDecoder();
  }

  function jsQRDecoder() {
    return loadJsQR().then(function (jsQR) {
      var canvas = document.createElement("canvas");
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      return function (video) {
        var w = video.videoWidth;
        var h = video.videoHeight;
        if (!w || !h) { return Promise.resolve(null); }
        canvas.width = w;
        canvas.height = h;
        ctx.drawImage(video, 0, 0, w, h);
        var found = jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
        return Promise.resolve(found ? found.data : null);
      };
    });
  }

  function startScan() {
    var box = document.getElementById("desk-scanner");
    var video = document.getElementById("desk-video");
    var status = document.getElementById("desk-scan-state");
    box.hidden = false;
    status.textContent = t("desk_scan_point");
    var session = { stream: null, stopped: false };
    scanning = session;
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (stream) {
      session.stream = stream;
      video.srcObject = stream;
      return video.play().then(decoder);
    }).then(function (decode) {
      function tick() {
        if (session.stopped) { return; }
        decode(video).then(function (text) {
          if (session.stopped) { return; }
          if (text && window.DeskSearch.tokenOf(text)) {
            stopScan();
            input.value = text;
            render(true);
            var hits = window.DeskSearch.search(searchable(), text);
            var att = hits.length ? state.view.attendance[hits[0].p.id] : null;
            if (!hits.length) { showNotice(t("desk_slip_unknown"), "error"); }
            else if (att) { showNotice(t("desk_already", { when: signedText(att) }), "error"); }
            else { showNotice(""); }
            return;
          }
          if (text) { status.textContent = t("desk_slip_unknown"); }
          setTimeout(tick, 150);
        }, function () { setTimeout(tick, 300); });
      }
      tick();
    }).catch(function () {
      status.textContent = t("desk_camera_failed");
    });
  }

  function stopScan() {
    if (!scanning) { return; }
    scanning.stopped = true;
    if (scanning.stream) { scanning.stream.getTracks().forEach(function (track) { track.stop(); }); }
    scanning = null;
    document.getElementById("desk-scanner").hidden = true;
  }

  // -- start -----------------------------------------------------------------------------------

  function start() {
    if (!usable()) { return; } // the server-rendered search and forms keep working
    if (labelInput) {
      labelInput.value = localStorage.getItem(LABEL_KEY) || "";
      labelInput.addEventListener("change", function () { localStorage.setItem(LABEL_KEY, deskLabel()); });
    }
    var scan = document.getElementById("desk-scan");
    if (scan && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
      scan.hidden = false;
      scan.addEventListener("click", startScan);
      document.getElementById("desk-scan-stop").addEventListener("click", stopScan);
    }
    root.querySelector("form.desk-search").addEventListener("submit", function (event) {
      event.preventDefault();
      render(true);
    });
    document.addEventListener("submit", onWalkIn);
    input.addEventListener("input", function () { render(true); });
    Promise.all([loadRoster(), loadKept()]).then(function (values) {
      var body = values[0];
      if (body) {
        state.people = body.people || [];
        state.invited = body.invited;
        state.byId = {};
        state.people.forEach(function (p) { state.byId[p.id] = p; });
        state.roster = true;
      }
      stateLine.textContent = body ? t("desk_ready", { count: state.people.length }) : t("desk_missing");
      root.dataset.deskState = body ? "ready" : "missing";
      return loadSnapshot().catch(function () { return null; });
    }).then(function () {
      return Promise.all([pull(), loadOutboxStates()]);
    }).then(function () {
      render();
      root.dataset.deskSynced = "1";
    });
    setInterval(function () { pull().then(function (ok) { if (ok) { render(); } }); }, PULL_EVERY_MS);
    window.addEventListener("online", function () { afterFlush(); });
    document.addEventListener("outbox:changed", function () { loadOutboxStates().then(render); });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  window.DeskPage = { refresh: afterFlush, state: state };
})();
