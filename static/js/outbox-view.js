/* Doorstep outbox view (v1): the /outbox page, and reopening a rejected record in its form.
 *
 * /outbox lists the signed-in user's records from IndexedDB (the server has no copy of what
 * has not been sent). A rejected record links to the form it was made in, with
 * "#outbox=<record id>": that form is filled from the record and shows the server's errors;
 * saving it replaces the rejected record with a new one (a new id, the same entity).
 */
(function () {
  "use strict";

  var D = window.Doorstep;
  if (!D || !D.usable() || !D.owner) { return; }
  var t = D.t;
  var el = D.el;

  function fieldLabel(name) {
    return (D.strings.fields || {})[name] || name;
  }

  function valueText(name, value) {
    if (value === true) { return "✓"; }
    if (value === false) { return "✗"; }
    if (value == null || value === "") { return "—"; }
    return ((D.strings.values || {})[name] || {})[value] || String(value);
  }

  function title(record) {
    var data = record.data || {};
    var text = record.type === "person" ? data.name
      : record.type === "visit" ? (D.strings.forms || {})[data.form_id] || data.form_id
      : [data.number, data.address].filter(Boolean).join(" · ");
    return t("type_" + record.type) + " · " + (text || t("no_name"));
  }

  function facts(pairs) {
    var dl = el("dl", { "class": "facts" });
    pairs.forEach(function (pair) {
      dl.appendChild(el("dt", { text: pair[0] }));
      dl.appendChild(el("dd", { text: pair[1] }));
    });
    return dl;
  }

  function item(record) {
    var rejected = record.state === "rejected";
    var article = el("article", { "class": "card outbox-item", id: "r-" + record.id, "data-state": record.state }, [
      el("h2", { text: title(record) }),
      el("p", {}, [el("span", { "class": rejected ? "tag tag-rejected" : "tag tag-unsynced",
                                text: t(rejected ? "state_rejected" : "state_pending") })]),
      el("p", { "class": "muted", text: t("made_at", { time: D.shortTime(record.created_at) }) +
                (record.attempts ? " · " + t("attempts", { count: record.attempts }) : "") }),
    ]);
    if (rejected) {
      var errors = el("ul", { "class": "outbox-errors" });
      Object.keys(record.errors || {}).forEach(function (name) {
        errors.appendChild(el("li", { "class": "field-error", "data-field": name,
                                      text: fieldLabel(name) + ": " + [].concat(record.errors[name]).join(" ") }));
      });
      article.appendChild(errors);
      if (record.form_url) {
        article.appendChild(el("div", { "class": "actions" }, [
          el("a", { "class": "button primary", href: record.form_url + "#outbox=" + record.id, text: t("fix") }),
        ]));
      }
    }
    var data = record.data || {};
    article.appendChild(facts(Object.keys(data).filter(function (name) {
      return !/_id$/.test(name);
    }).map(function (name) { return [fieldLabel(name), valueText(name, data[name])]; })));
    return article;
  }

  function renderList(view) {
    return window.Outbox.list(D.owner).then(function (records) {
      var children = [];
      if (records.some(function (r) { return r.state === "pending"; })) {
        var button = el("button", { type: "button", "class": "primary", text: t("sync_now") });
        button.addEventListener("click", function () { D.flushNow(); });
        children.push(el("div", { "class": "actions" }, [button]));
      }
      if (!records.length) { children.push(el("p", { "class": "card", text: t("outbox_empty") })); }
      records.forEach(function (record) { children.push(item(record)); });
      view.replaceChildren.apply(view, children);
      var target = location.hash && document.getElementById(location.hash.slice(1));
      if (target) { target.classList.add("outbox-target"); target.scrollIntoView({ block: "start" }); }
    });
  }

  /* /people/<id>/edit#outbox=<record id>: the form with the record's values and errors. */
  function reopen(form, id) {
    return window.Outbox.get(id).then(function (record) {
      if (!record || record.owner !== D.owner) { return; }
      // A page with several forms (a household's visit forms): the one the record was made in.
      var own = record.data && record.data.form_id &&
        document.querySelector('form[data-outbox="' + record.type + '"][data-form-id="' + record.data.form_id + '"]');
      form = own || form;
      if (form.closest("details")) { form.closest("details").open = true; }
      D.fillForm(form, record.data);
      form.dataset.replaces = record.id;
      form.dataset.entityId = record.entity_id;
      form.dataset.baseVersion = record.base_version == null ? "" : String(record.base_version);
      form.dispatchEvent(new CustomEvent("outbox:filled")); // visit forms re-apply `relevant`
      if (record.state === "rejected") { D.showErrors(form, record.errors); }
    });
  }

  var view = document.getElementById("outbox-view");
  if (view) {
    renderList(view);
    document.addEventListener("outbox:changed", function () { renderList(view); });
  }
  var match = /^#outbox=([0-9a-f-]{36})$/.exec(location.hash);
  var form = document.querySelector("form[data-outbox]");
  if (match && form) { reopen(form, match[1]); }
})();
