"""Time a register import of a town-sized spreadsheet, through the real pages.

    .venv/bin/python bench/register_import.py [--rows 8000] [--errors 40] [--import] [--database-url URL]

Builds the demo town (12,000 people) in a throwaway SQLite file (or the given empty
database), writes an XLSX of ``--rows`` new people in households of 3 (valid ID numbers,
``--errors`` rows with a bad check digit), then times as the station master:
upload (read + judge every row), the preview page, "skip all rows with errors", and with
``--import`` the confirmation (one all-or-nothing merge of every household and person).
"""
from __future__ import annotations

import argparse
import io
import random
import re
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.demo import build_demo  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.imports.columns import COLUMNS  # noqa: E402
from webapp.models import Area, Person, User  # noqa: E402


def workbook(groups: list[tuple[str, str]], rows: int, errors: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("人员")
    sheet.append([c.zh for c in COLUMNS])
    bad = set(rng.sample(range(rows), errors))
    serials: set[str] = set()
    for n in range(rows):
        village, group = groups[(n // 3) % len(groups)]
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(29000))
        while True:  # region 110101 never occurs in the demo town (140121): no clash with the register
            body = f"110101{birth:%Y%m%d}{rng.randrange(1000):03d}"
            if body not in serials:
                serials.add(body)
                break
        check = ric.calc_check_digit(body + "0")
        if n in bad:
            check = "0" if check != "0" else "1"
        sheet.append([village, group, f"B{n // 3:05d}", f"测试路{n // 3}号" if n % 3 == 0 else "",
                      "王" + "一二三四五六七八九"[n % 9] + "山", "户主" if n % 3 == 0 else "子",
                      "男" if rng.random() < 0.5 else "女", birth.isoformat(), body + check,
                      f"139{rng.randrange(10**8):08d}" if rng.random() < 0.5 else "", "", "", "", "是"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def timed(label: str, call):
    start = time.perf_counter()
    result = call()
    print(f"{label:<34} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--errors", type=int, default=40)
    parser.add_argument("--import", dest="do_import", action="store_true")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
                      "IMPORT_MAX_ROWS": max(20000, args.rows), "IMPORT_MAX_BYTES": 50 * 1024 * 1024})
    with app.app_context():
        db.create_all()
        build_demo(db.session)
        boss = db.session.scalar(sa.select(User).where(User.username == "zhanzhang"))
        village = sa.orm.aliased(Area)
        groups = [tuple(row) for row in db.session.execute(
            sa.select(village.code, Area.code).join(village, Area.parent_id == village.id)
            .where(Area.kind == "group").order_by(Area.code)).all()]
        boss_id, before = boss.id, db.session.scalar(sa.select(sa.func.count()).select_from(Person))
    data = workbook(groups, args.rows, args.errors)
    print(f"{args.rows} rows, {args.errors} with errors, {len(data) / 1024:.0f} KiB XLSX, {url.split(':')[0]}")
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = boss_id, True
    response = timed("upload (read + judge all rows)", lambda: client.post(
        "/imports/", data={"file": (io.BytesIO(data), "town.xlsx")}, content_type="multipart/form-data"))
    location = response.headers["Location"]
    page = timed("preview page", lambda: client.get(location)).get_data(as_text=True)
    print("  ", re.search(r"Rows with errors: \d+|有错误的行：\d+", page).group(0))
    while True:  # skipping a head leaves the rest of the household in error: skip again
        page = timed("skip all rows with errors (re-judge)", lambda: client.post(
            location, data={"action": "skip_errors"})).get_data(as_text=True)
        left = re.search(r"Rows with errors: (\d+)|有错误的行：(\d+)", page)
        if not int(left.group(1) or left.group(2)):
            break
    if args.do_import:
        response = timed("import (one merge, one commit)", lambda: client.post(location, data={"action": "import", "skip": re.findall(
            r'name="skip" value="(\d+)" checked', client.get(location).get_data(as_text=True)),
            "shown": re.search(r'name="shown" value="([^"]*)"', client.get(location).get_data(as_text=True)).group(1)}))
        if response.status_code != 302:
            problems = re.findall(r'<ul class="row-errors">(.*?)</ul>', response.get_data(as_text=True))
            raise SystemExit(f"import refused ({response.status_code}): {problems[:5]}")
        with app.app_context():
            after = db.session.scalar(sa.select(sa.func.count()).select_from(Person))
        print(f"   people in the register: {before} -> {after}")


if __name__ == "__main__":
    main()
