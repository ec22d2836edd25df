/* Doorstep pending view (v1): what this phone holds that the server does not have yet, shown
 * where the worker looks for it.
 *
 * - /households/unsynced#<household id>: a household made on this phone has no server page;
 *   this kept frame shows it from the outbox with its people waiting too, and links to
 *   /households/unsynced/people/new#<household id>, the person form for it. Once the household
 *   reached the server (no record of it left here) the frame hands over to its real page.
 * - Person and household pages (section[data-entity]): the values of this entity's records still
 *   in the outbox replace the server's, each marked 未同步 with the value it replaces. That holds
 *   on a page from the offline cache too, since it is done here, on the phone. When the records
 *   have reached the server the page's main part is fetched again: the server's values, unmarked.
 *
 * Only DOM work here; records come from outbox-core.js, strings and helpers from outbox.js.
 */
(function () {
  "use strict";

  var D = window.Doorstep;
  if (!D || !D.usable() || !D.owner) { return; }
  var t = D.t;
  var el = D.el;
  var HEAD = "户主";

  function hashId() {
    var match = /^#([0-9a-f-]{36})$/.exec(location.hash);
    return match ? match[1] : null;
  }

  /* Records of one entity, oldest first, and their data merged (later values win). */
  function recordsOf(records, type, entityId) {
    return records.filter(function (r) { return r.type === type && r.entity_id === entityId; });
  }

  function merged(records) {
    var data = {};
    records.forEach(function (r) { Object.assign(data, r.data || {}); });
    return data;
  }

  function stateTag(records) {
    var rejected = records.some(function (r) { return r.state === "rejected"; });
    return { text: t(rejected ? "state_rejected" : "unsynced"), className: rejected ? "tag tag-rejected" : "tag tag-unsynced" };
  }

  // -- a household made on this phone -----------------------------------------------------

  function householdTitle(data) {
    return [data.number ? t("household_no", { number: data.number }) : "", data.address || ""]
      .filter(Boolean).join(" · ") || t("type_household");
  }

  function showUnsyncedHousehold(frame, householdId) {
    return window.Outbox.list(D.owner).then(function (records) {
      var own = recordsOf(records, "household", householdId);
      if (!own.length) {
        // Not (or no longer) waiting here: sent, so the server has its page, or never made here.
        if (householdId) { location.replace("/households/" + householdId); }
        return;
      }
      var data = merged(own);
      var last = own[own.length - 1];
      var labels = last.labels || {};
      var tag = stateTag(own);
      frame.querySelector("[data-household-title]").textContent = householdTitle(data);
      var state = frame.querySelector("[data-household-state]");
      state.className = tag.className;
      state.textContent = tag.text;
      frame.querySelector("[data-household-address]").textContent = data.address || "";
      var group = frame.querySelector("[data-group-link]");
      group.href = "/groups/" + data.group_id;
      group.textContent = labels.group_id || t("back_to_group");
      var edit = frame.querySelector("[data-edit-household]");
      if (last.form_url) { edit.href = last.form_url + "#outbox=" + last.id; } else { edit.hidden = true; }
      frame.querySelector("[data-add-person]").href = "/households/unsynced/people/new#" + householdId;
      frame.hidden = false;
    });
  }

  function startUnsyncedHousehold(frame) {
    var householdId = hashId();
    var missing = document.querySelector("[data-unsynced-missing]");
    if (missing && householdId) { missing.hidden = true; } // for browsers without JavaScript, or no household named
    var list = frame.querySelector("ul[data-pending]");
    list.dataset.parentId = householdId || "";
    D.markPendingInLists();
    showUnsyncedHousehold(frame, householdId);
    document.addEventListener("outbox:changed", function () { showUnsyncedHousehold(frame, householdId); });
    window.addEventListener("hashchange", function () { location.reload(); });
  }

  /* The person form for a household not on the server yet: which household, and the way back. */
  function startUnsyncedPersonForm(form) {
    var reopening = /^#outbox=([0-9a-f-]{36})$/.exec(location.hash);
    var idPromise = reopening
      ? window.Outbox.get(reopening[1]).then(function (r) { return r && r.data ? r.data.household_id : null; })
      : Promise.resolve(hashId());
    Promise.all([idPromise, window.Outbox.list(D.owner)]).then(function (values) {
      var householdId = values[0];
      var records = values[1];
      if (!householdId) { return; }
      var back = D.unsyncedHouseholdUrl(householdId);
      form.querySelector('input[name="household_id"]').value = householdId;
      form.dataset.nextUrl = back;
      var cancel = form.querySelector("[data-cancel]");
      if (cancel) { cancel.href = back; }
      var address = document.querySelector("[data-unsynced-address]");
      var household = merged(recordsOf(records, "household", householdId));
      if (address) { address.textContent = householdTitle(household); }
      var hasHead = records.some(function (r) {
        return r.type === "person" && r.data && r.data.household_id === householdId && r.data.relation === HEAD;
      });
      var relation = form.querySelector('select[name="relation"]');
      if (hasHead && !reopening && relation && relation.value === HEAD) { relation.value = ""; }
    });
  }

  // -- changes waiting for a person or household page --------------------------------------

  function mask(kind, value) {
    if (!value) { return ""; }
    var keep = kind === "id" ? 4 : 3;
    if (value.length <= keep + 4) { return value.replace(/./g, "*"); }
    return value.slice(0, keep) + value.slice(keep, -4).replace(/./g, "*") + value.slice(-4);
  }

  /* What the page would show as data-value for a pending value. */
  function canonical(node, name, value) {
    if (name === "enrolled") { return value ? "true" : "false"; }
    if (value == null) { return ""; }
    value = String(value).trim();
    return node.dataset.mask ? mask(node.dataset.mask, value) : value;
  }

  function display(name, shown, labels) {
    if (name === "enrolled") { return t(shown === "true" ? "yes" : "no"); }
    if (name === "group_id") { return (labels || {}).group_id || shown; }
    if (!shown) { return "—"; }
    return ((D.strings.values || {})[name] || {})[shown] || shown;
  }

  function restore(section) {
    section.querySelectorAll("[data-pending-shown]").forEach(function (node) {
      node.innerHTML = node.dataset.pendingShown;
      delete node.dataset.pendingShown;
      node.classList.remove("pending-value");
    });
    section.querySelectorAll("[data-away]").forEach(function (node) {
      if ("awayHidden" in node.dataset) { node.hidden = node.dataset.awayHidden === "1"; delete node.dataset.awayHidden; }
    });
    section.querySelectorAll(".pending-note").forEach(function (node) { node.remove(); });
  }

  function showPendingValues(section, own) {
    var data = merged(own);
    var labels = own[own.length - 1].labels;
    var tag = stateTag(own);
    var marked = 0;
    section.querySelectorAll("[data-field]").forEach(function (node) {
      var name = node.dataset.field;
      if (!(name in data)) { return; }
      var shown = canonical(node, name, data[name]);
      if (shown === node.dataset.value) { return; }
      node.dataset.pendingShown = node.innerHTML;
      var old = node.textContent.trim();
      node.classList.add("pending-value");
      node.replaceChildren(
        el("span", { "class": "pending-new", text: display(name, shown, labels) + " " }),
        el("span", { "class": tag.className, text: tag.text }),
        document.createTextNode(" "),
        el("s", { "class": "muted pending-was", text: old, title: t("was", { value: old }) }));
      marked += 1;
    });
    if ("status" in data) {
      section.querySelectorAll("[data-away]").forEach(function (node) {
        node.dataset.awayHidden = node.hidden ? "1" : "0";
        node.hidden = data.status !== "away";
      });
    }
    if (marked) {
      section.insertAdjacentElement("afterbegin", el("p", { "class": "pending-note", role: "status" }, [
        el("span", { text: t("pending_note") + " " }), el("a", { href: "/outbox", text: t("state_pending") }),
      ]));
    }
  }

  /* The page's main part, fetched again from the server (not the kept copy): its values
   * now include the changes that just went out. In place, not a reload: nothing the worker
   * is doing on the page is interrupted. */
  function refreshFromServer() {
    return fetch(location.href, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      return response.ok && !response.redirected ? response.text() : null;
    }).then(function (html) {
      var fresh = html && new DOMParser().parseFromString(html, "text/html").getElementById("main");
      var main = document.getElementById("main");
      if (!fresh || !main) { return; }
      var nodes = Array.prototype.slice.call(fresh.childNodes); // a copy: adopting empties the live list
      main.replaceChildren.apply(main, nodes.map(function (node) { return document.adoptNode(node); }));
      D.markPendingInLists();
      return showEntityPages();
    }).catch(function () { /* offline again: the page keeps what it shows */ });
  }

  var shownBefore = false;

  function showEntityPages() {
    var sections = document.querySelectorAll("section[data-entity][data-entity-id]");
    if (!sections.length) { return Promise.resolve(); }
    return window.Outbox.list(D.owner).then(function (records) {
      var shown = false;
      sections.forEach(function (section) {
        var own = recordsOf(records, section.dataset.entity, section.dataset.entityId);
        restore(section);
        if (own.length) { showPendingValues(section, own); shown = true; }
      });
      if (shown) {
        shownBefore = true;
      } else if (shownBefore) {
        shownBefore = false; // the changes reached the server: show its values, unmarked
        return refreshFromServer();
      }
    });
  }

  var frame = document.querySelector("[data-unsynced-frame]");
  if (frame) { startUnsyncedHousehold(frame); }
  var personForm = document.querySelector("form[data-outbox][data-unsynced-household]");
  if (personForm) { startUnsyncedPersonForm(personForm); }
  showEntityPages();
  document.addEventListener("outbox:changed", showEntityPages);
})();
