"""Printed notice slips: what a worker hands over and what the desk scans.

The PDF is opened with PDFium (the engine of Chrome's PDF viewer), each page is rendered to
an image as a printer would, and every QR code is decoded with ZXing — so the proof is what
a phone camera at the desk would read, not what our code meant to draw.
"""
from __future__ import annotations

import re
import secrets
from datetime import date, time

import pypdfium2 as pdfium
import pytest
import zxingcpp

from webapp.notices.slips import Slip, qr_payload, render_slips_pdf, token_from_qr

NAMES = ["王秀英", "李建国", "张伟", "欧阳娜娜", "陈静", "刘洋", "赵磊", "孙丽", "周杰", "吴芳", "郑强"]


def make_slips(names=NAMES, **overrides) -> list[Slip]:
    slips = []
    for i, name in enumerate(names):
        fields = dict(
            name=name, village="东关村", group=f"第{i % 3 + 1}组", day=date(2026, 12, 1),
            start=time(8, 0), end=time(11, 30), station="城关镇卫生院",
            services=("血压检查", "乳腺检查", "血糖检查"), bring="身份证、本通知单",
            # Both ends of the token lengths the invitations use (16 and 32 random bytes).
            token=secrets.token_urlsafe(32 if i % 2 else 16),
            code=f"K7Q{i:03d}",
        )
        fields.update(overrides)
        slips.append(Slip(**fields))
    return slips


def read_pdf(pdf: bytes) -> tuple[list[list[str]], list[str]]:
    """Per page: the decoded QR texts, and the page's extracted text."""
    doc = pdfium.PdfDocument(pdf)
    try:
        codes, texts = [], []
        for index in range(len(doc)):
            page = doc[index]
            image = page.render(scale=150 / 72).to_pil()  # a 150 dpi print
            codes.append([barcode.text for barcode in zxingcpp.read_barcodes(image)
                          if barcode.format == zxingcpp.BarcodeFormat.QRCode])
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return codes, texts
    finally:
        doc.close()


def test_every_invited_person_gets_one_slip_whose_qr_code_is_their_token(app):
    slips = make_slips()
    with app.app_context():
        pdf = render_slips_pdf(slips, title="查体通知单")

    assert pdf.startswith(b"%PDF")
    codes, texts = read_pdf(pdf)
    assert len(codes) == 2  # 11 slips, eight a page
    assert [len(page) for page in codes] == [8, 3]
    tokens = [token_from_qr(text) for page in codes for text in page]
    assert sorted(tokens) == sorted(slip.token for slip in slips)
    assert all(text.startswith("DS1:") for page in codes for text in page)


def test_a_slip_reads_in_chinese_with_name_place_date_time_and_what_to_bring(app):
    slips = make_slips()
    with app.app_context():
        pdf = render_slips_pdf(slips, title="查体通知单")

    _, texts = read_pdf(pdf)
    text = "".join(texts).replace("\r\n", "\n")
    for slip in slips:
        assert slip.name in text
        assert slip.code in text
    assert text.count("查体通知单") == len(slips)
    assert "东关村 第1组" in text
    assert "日期：2026年12月1日 星期二" in text
    assert "时间：08:00-11:30" in text
    assert "地点：城关镇卫生院" in text
    assert "请携带：身份证、本通知单" in text
    assert "送达日期 ________ 签收 ________" in re.sub(" +", " ", text)
    assert "签到码" in text


def test_qr_codes_carry_no_personal_data(app):
    slips = make_slips(names=["王秀英"])
    with app.app_context():
        codes, _ = read_pdf(render_slips_pdf(slips, title="查体通知单"))
    assert codes == [[qr_payload(slips[0].token)]]
    assert "王" not in codes[0][0] and "东关" not in codes[0][0]


def test_someone_working_away_gets_a_certificate_request_instead_of_an_appointment(app):
    slips = make_slips(names=["欧阳娜娜"], certificate=True, bring="")
    with app.app_context():
        codes, texts = read_pdf(render_slips_pdf(slips, title="查体通知单"))

    text = texts[0].replace("\r\n", "")
    assert "查体证明请求" in text
    assert "请在居住地的医疗机构完成以下检查" in text
    assert "2026年12月1日星期二前" in text.replace(" ", "")  # the line may wrap at the space
    assert "时间：" not in text and "请携带" not in text
    assert [token_from_qr(c) for c in codes[0]] == [slips[0].token]


def test_slips_print_with_english_labels_outside_a_request(app):
    slips = make_slips(names=["Li Wei", "王秀英"])
    with app.app_context():
        en = render_slips_pdf(slips, title="Check-up notice", locale="en")
    _, texts = read_pdf(en)
    text = texts[0].replace("\r\n", "\n")
    assert "Date: Tuesday 1 December 2026" in text
    assert "Place: 城关镇卫生院" in text
    assert "Please bring:" in text
    assert "Desk code" in text
    assert "Li Wei" in text and "王秀英" in text


def test_slips_render_without_an_app_too():
    """A script or the scheduler may render before an app context exists; labels still come
    from translations/ in the locale asked for."""
    _, texts = read_pdf(render_slips_pdf(make_slips(names=["张伟"]), title="查体通知单"))
    assert "日期：2026年12月1日 星期二" in texts[0]


def test_long_service_lists_wrap_and_still_fit_on_the_slip(app):
    services = tuple(f"第{i}项特别长的专项检查服务" for i in range(1, 9))
    slips = make_slips(names=["王秀英", "李建国", "张伟"], services=services)
    with app.app_context():
        codes, texts = read_pdf(render_slips_pdf(slips, title="查体通知单"))
    text = texts[0].replace("\r\n", "")
    assert all(service in text for service in services)  # nothing cut off
    assert sorted(token_from_qr(c) for c in codes[0]) == sorted(s.token for s in slips)


def test_no_slips_is_a_clear_error():
    with pytest.raises(ValueError, match="no slips"):
        render_slips_pdf([], title="查体通知单")


def test_a_token_that_is_not_an_opaque_token_is_refused_before_printing():
    with pytest.raises(ValueError, match="token"):
        render_slips_pdf(make_slips(names=["王秀英"], token="王秀英 13800138000"), title="查体通知单")


def test_scanned_codes_that_are_not_our_slips_give_no_token():
    assert token_from_qr("https://example.org/x") is None
    assert token_from_qr("DS1:short") is None
    token = secrets.token_urlsafe(16)
    assert token_from_qr(f" DS1:{token}\n") == token
