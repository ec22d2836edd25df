"""One definition, two validators: the browser form and the server schema agree on every case.

A form with every field type and rule is loaded as a new form (as an admin would), opened in
Chromium, filled case by case through the real inputs, and judged by the browser
(``checkValidity`` with visit-forms.js applying ``relevant``). The answers the outbox would
send (``Doorstep.formData``) then go to the server's schema (validation.validate_answers).
Each case states what a worker should see; browser, server and expectation must all agree.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import make_user
from tests.helpers import browser_login
from webapp.extensions import db
from webapp.merging import local_today
from webapp.models import User
from webapp.visits.definitions import parse_text
from webapp.visits.service import load_definition
from webapp.visits.validation import validate_answers

pytestmark = pytest.mark.browser

EVERY_RULE = """
form_id: agree
version: 1
title: {zh: 规则样例, en: Every rule}
fields:
  - {name: info, type: note, label: {zh: 说明, en: About this form}}
  - {name: name, type: text, required: true, min: 2, max: 20, pattern: "[A-Za-z ]+", label: {zh: 名字, en: Name}}
  - {name: age, type: integer, min: 0, max: 120, label: {zh: 年龄, en: Age}}
  - {name: weight, type: decimal, min: 0.5, max: 300, label: {zh: 体重, en: Weight}}
  - {name: seen, type: date, required: true, min: "2020-01-01", max: today, label: {zh: 日期, en: Date}}
  - name: colour
    type: select_one
    required: true
    label: {zh: 颜色, en: Colour}
    choices: [{value: red, label: {zh: 红, en: Red}}, {value: blue, label: {zh: 蓝, en: Blue}}]
  - name: pets
    type: select_many
    required: true
    default: cat
    label: {zh: 宠物, en: Pets}
    choices: [{value: cat, label: 猫}, {value: dog, label: 狗}, {value: fish, label: 鱼}]
  - {name: ok, type: yes_no, label: {zh: 方便联系吗, en: May we call}}
  - {name: mobile, type: phone, required: true, relevant: "${ok} = 'yes'", label: {zh: 手机, en: Mobile}}
  - {name: dog_name, type: text, required: true, relevant: "selected(${pets}, 'dog')", label: {zh: 狗名, en: Dog's name}}
  - {name: notes, type: text, required: true, relevant: "${colour} != 'blue' and ${ok} = 'no'", label: 备注}
"""

BASE = {"name": "Li Lei", "seen": "2025-05-01", "colour": "red", "pets": ["cat"]}


def _cases(today: date):
    tomorrow = (today + timedelta(days=1)).isoformat()
    return [
        ("the base answers", {}, True),
        ("a required text left empty", {"name": ""}, False),
        ("text shorter than min", {"name": "L"}, False),
        ("text at min", {"name": "Li"}, True),
        ("text against the pattern", {"name": "Li3"}, False),
        ("integer above max", {"age": "121"}, False),
        ("integer at max", {"age": "120"}, True),
        ("integer at min", {"age": "0"}, True),
        ("integer below min", {"age": "-1"}, False),
        ("integer with a fraction", {"age": "1.5"}, False),
        ("integer in exponent form", {"age": "1e2"}, True),
        ("decimal below min", {"weight": "0.4"}, False),
        ("decimal at min", {"weight": "0.5"}, True),
        ("decimal with decimals", {"weight": "72.35"}, True),
        ("decimal above max", {"weight": "301"}, False),
        ("a required date left empty", {"seen": ""}, False),
        ("date before min", {"seen": "2019-12-31"}, False),
        ("date at min", {"seen": "2020-01-01"}, True),
        ("date after today", {"seen": tomorrow}, False),
        ("date today", {"seen": today.isoformat()}, True),
        ("a required choice not made", {"colour": None}, False),
        ("the other choice", {"colour": "blue"}, True),
        ("no box ticked in a required list", {"pets": []}, False),
        ("several boxes ticked", {"pets": ["cat", "fish"]}, True),
        ("a box that shows a required question left empty", {"pets": ["dog"]}, False),
        ("that question answered", {"pets": ["dog"], "dog_name": "Wangcai"}, True),
        ("yes shows a required phone, left empty", {"ok": "yes"}, False),
        ("a valid mobile", {"ok": "yes", "mobile": "13800138000"}, True),
        ("a mobile starting 12", {"ok": "yes", "mobile": "12800138000"}, False),
        ("a mobile with ten digits", {"ok": "yes", "mobile": "1380013800"}, False),
        ("a mobile with spaces", {"ok": "yes", "mobile": "138 0013 8000"}, False),
        ("no with red shows a required note, left empty", {"ok": "no"}, False),
        ("that note filled", {"ok": "no", "notes": "ok"}, True),
        ("blue hides the note again", {"ok": "no", "colour": "blue"}, True),
    ]


ORDER = ["name", "age", "weight", "seen", "colour", "pets", "ok", "mobile", "dog_name", "notes"]
RADIOS = ("colour", "ok")

RESET = """() => { const f = document.getElementById("preview-form"); f.reset();
  f.querySelectorAll("input").forEach((i) => { i.disabled = false; }); window.DoorstepVisitForms.update(f); }"""
JUDGE = """() => { const f = document.getElementById("preview-form");
  return {valid: f.checkValidity(), data: window.Doorstep.formData(f)}; }"""


def _fill(page, answers):
    for name in ORDER:
        if name not in answers:
            continue
        value = answers[name]
        if name in RADIOS:
            if value is None:
                page.evaluate(f"() => document.querySelectorAll('input[name={name}]').forEach((i) => {{ i.checked = false; }})")
                page.evaluate("() => window.DoorstepVisitForms.update(document.getElementById('preview-form'))")
            else:
                page.locator(f"input[name={name}][value={value}]").check()
        elif name == "pets":
            for box in page.locator("input[name=pets]").all():
                box.set_checked(box.get_attribute("value") in value)
        else:
            page.locator(f"#agree-{name}").fill(value)


def test_the_browser_form_and_the_server_schema_accept_and_reject_the_same_answers(live_server, page):
    with live_server.app_context():
        make_user("root", "admin")
        admin = db.session.query(User).filter_by(username="root").one()
        definition, problems = load_definition(admin, "agree.yaml", EVERY_RULE.encode())
        assert problems == []
        today = local_today()
    browser_login(page, live_server.url, "root")
    page.goto(f"{live_server.url}/visit-forms/preview?form_id=agree")
    page.wait_for_function("() => window.DoorstepVisitForms && window.Doorstep")
    disagreements, checked_types = [], set()
    for title, change, expected in _cases(today):
        page.evaluate(RESET)
        answers = {**BASE, **change}
        _fill(page, answers)
        verdict = page.evaluate(JUDGE)
        raw = {k: v for k, v in verdict["data"].items() if k not in ("form_id", "form_version", "household_id")}
        with live_server.app.test_request_context():
            _clean, errors = validate_answers(definition, raw, today=today)
        server_ok = not errors
        if not (verdict["valid"] == server_ok == expected):
            disagreements.append(f"{title}: browser {verdict['valid']}, server {server_ok} {errors}, "
                                 f"expected {expected}; sent {raw}")
        checked_types.update(f["type"] for f in definition["fields"] if f["name"] in raw)
    assert disagreements == []
    # Every field type took part (the note has no answer; member fields are checked in the sync tests).
    assert checked_types == {"text", "integer", "decimal", "date", "select_one", "select_many", "yes_no", "phone"}
    assert parse_text(EVERY_RULE) == definition
