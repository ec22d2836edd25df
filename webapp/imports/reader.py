"""Reading an uploaded register file (XLSX or CSV) into rows of cell text.

What must hold: whatever bytes arrive, the reader either returns rows or raises
``FileProblem`` with a translated message saying what to do; it never reads more than
``max_rows`` rows (a small zipped workbook can hold millions of empty cells).
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from .columns import BY_KEY, cell_text, match_headers

OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # old .xls (and other Office 97-2003 files)


class FileProblem(Exception):
    """The file as a whole cannot be read; ``message`` is shown to the admin."""

    def __init__(self, message, status: int = 422):
        super().__init__(str(message))
        self.message, self.status = str(message), status


@dataclass
class Table:
    rows: list[dict] = field(default_factory=list)  # {"row": sheet row number, "cells": {key: text}}
    ignored_columns: list[str] = field(default_factory=list)
    encoding: str = ""


def read_table(data: bytes, *, max_rows: int) -> Table:
    if data.startswith(OLE_MAGIC):
        raise FileProblem(_l("This is an old Excel file (.xls). Save it as .xlsx (Excel Workbook) or CSV and upload that."))
    if data.startswith(b"PK"):
        return _table(_xlsx_rows(data), max_rows, "xlsx")
    text, encoding = decode_csv(data)
    return _table(_csv_rows(text), max_rows, encoding)


def decode_csv(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without the BOM Excel adds), else GB18030, the superset of the GBK that
    Excel on a Chinese Windows writes. A UTF-8 file never fails to decode as UTF-8, and GBK
    text is almost never valid UTF-8, so trying in this order does not mistake one for the other."""
    if b"\x00" in data[:4096]:
        raise FileProblem(_l("This file is neither an Excel workbook (.xlsx) nor a CSV text file."))
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError:
        raise FileProblem(_l("The CSV file's characters could not be read. Save it as \"CSV UTF-8\" and upload it again.")) from None


def _csv_rows(text: str):
    sample = text[:4096]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _xlsx_rows(data: bytes):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise FileProblem(_l("This Excel file could not be opened. Save it again as .xlsx and upload it.")) from None
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


HEADER_SEARCH_ROWS = 5  # a title row or two (e.g. "青石镇户籍花名册") may sit above the headers


def _missing_columns(missing: list[str]) -> FileProblem:
    names = "、".join(f"{BY_KEY[k].zh} ({BY_KEY[k].en})" for k in missing)
    return FileProblem(_l("The first row must name the columns. Missing: %(names)s. "
                          "Download the template to see the expected headers.", names=names))


def _table(rows, max_rows: int, encoding: str) -> Table:
    """Headers on one of the first non-empty rows (the first naming every required column);
    blank rows are left out, and rows keep their sheet numbers."""
    table = Table(encoding=encoding)
    positions, fewest_missing, looked = None, None, 0
    for number, values in enumerate(rows, start=1):
        texts = [cell_text(v) for v in values]
        if not any(texts):
            continue
        if positions is None:
            found, ignored, missing = match_headers(texts)
            if missing:
                looked += 1
                if fewest_missing is None or len(missing) < len(fewest_missing):
                    fewest_missing = missing
                if looked >= HEADER_SEARCH_ROWS:
                    raise _missing_columns(fewest_missing)
                continue
            positions, table.ignored_columns = found, ignored
            numeric = {i for i, k in positions.items() if k == "id_number"}
            continue
        if len(table.rows) >= max_rows:
            raise FileProblem(_l("The file has more than %(max)s rows. Split it into smaller files.", max=max_rows))
        cells, problems = {}, {}
        for index, key in positions.items():
            value = values[index] if index < len(values) else None
            if index in numeric and isinstance(value, int | float) and not isinstance(value, bool):
                problems[key] = [str(_l("Excel stored this ID number as a number and lost its last digits. "
                                        "Format the column as text and type the number again."))]
            cells[key] = texts[index] if index < len(texts) else ""
        table.rows.append({"row": number, "cells": cells, "problems": problems})
    if positions is None:
        raise _missing_columns(fewest_missing) if fewest_missing else FileProblem(_l("The file is empty."))
    if not table.rows:
        raise FileProblem(_l("The file has a header row but no people."))
    return table
