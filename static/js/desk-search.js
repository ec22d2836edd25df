/* Desk search over the cached roster: the same ranking as webapp/desk/queries.py (_tiers).
 *
 * No DOM here: bench/desk_search.py runs it in Chromium on a 2,000-person roster, and
 * tests/test_desk_search.py holds it and the server to one list of cases. Keep both in step.
 *
 * Ranks: 0 slip token (DS1:…) or 6-character slip code; 1 exact name, exact initials, exact
 * full pinyin, ID tail; 2 name prefix, initials prefix, phone ending; 3 pinyin prefix, name
 * part, phone start. Ties: pinyin, then name, then id (people not invited are marked, not
 * ranked down: the server ranks without reading a big day's invitations per person).
 */
(function (global) {
  "use strict";

  var LIMIT = 20;
  var STRIP = /[\s'·\-]+/g;
  var LATIN = /^[a-z]+$/;
  var CODE = /^[2-9A-HJ-NP-Z]{6}$/;
  var ID_TAIL = /^\d{3,5}[0-9X]$/;
  var DIGITS = /^\d{4,11}$/;
  var QR_PREFIX = "DS1:";

  /* Full-width digits and letters (a zh-CN keyboard's １３８, ｚｈｍ) made plain, as the server does. */
  function normalise(q) { return String(q || "").normalize("NFKC").trim().replace(STRIP, ""); }

  function tokenOf(q) {
    q = String(q || "").trim();
    return q.indexOf(QR_PREFIX) === 0 && q.length > QR_PREFIX.length ? q.slice(QR_PREFIX.length) : null;
  }

  /* 9 = no match. `q` is normalised; `token` the slip token when the query was a scanned QR. */
  function rankOf(p, q, token) {
    if (token) { return p.inv && p.tok === token ? 0 : 9; }
    var lower = q.toLowerCase();
    var upper = q.toUpperCase();
    if (p.inv && p.code === upper) { return 0; }
    if (LATIN.test(lower)) {
      if (p.i === lower || p.p === lower) { return 1; }
      if (p.i.indexOf(lower) === 0) { return 2; }
      return p.p.indexOf(lower) === 0 ? 3 : 9;
    }
    var idTail = ID_TAIL.test(upper);
    if (idTail || DIGITS.test(q)) {
      var digits = /^\d+$/.test(q);
      if (idTail && p.idt && endsWith(p.idt, upper) && upper.length <= p.idt.length) { return 1; }
      if (digits && p.ph && endsWith(p.ph, q)) { return 2; }
      return digits && p.ph && p.ph.indexOf(q) === 0 ? 3 : 9;
    }
    if (p.n === q) { return 1; }
    if (p.n.indexOf(q) === 0) { return 2; }
    return p.n.indexOf(q) >= 0 ? 3 : 9;
  }

  function endsWith(text, tail) { return text.length >= tail.length && text.slice(-tail.length) === tail; }

  /* Code-point order, as SQLite and PostgreSQL (C collation) compare the server's columns. */
  function compare(a, b) {
    if (a.rank !== b.rank) { return a.rank - b.rank; }
    if (a.p.p !== b.p.p) { return a.p.p < b.p.p ? -1 : 1; }
    if (a.p.n !== b.p.n) { return a.p.n < b.p.n ? -1 : 1; }
    return a.p.id < b.p.id ? -1 : a.p.id > b.p.id ? 1 : 0;
  }

  /* The best `limit` people of `people` for the raw query `raw`, as [{p, rank}]. */
  function search(people, raw, limit) {
    var token = tokenOf(raw);
    var q = normalise(raw);
    if (!q) { return []; }
    var found = [];
    for (var k = 0; k < people.length; k++) {
      var rank = rankOf(people[k], q, token);
      if (rank < 9) { found.push({ p: people[k], rank: rank }); }
    }
    found.sort(compare);
    return found.slice(0, limit || LIMIT);
  }

  global.DeskSearch = { search: search, rankOf: rankOf, normalise: normalise, tokenOf: tokenOf, LIMIT: LIMIT };
})(typeof self !== "undefined" ? self : this);
