"""PII masking (数据脱敏): English and Chinese formats, checksums, false-positive guards."""

from __future__ import annotations

import pytest

from tunelab.data.pii import (
    PII_ENTITIES,
    PLACEHOLDERS,
    PiiMasker,
    cn_id_valid,
    find_pii,
    iban_valid,
    luhn_valid,
    mask_text,
    mask_text_counts,
    resolve_entities,
)

POSITIVES = [
    # (text, masked)
    ("mail me at john.doe+tag@example.co.uk.", "mail me at <EMAIL>."),
    ("联系邮箱zhangsan@qq.com谢谢", "联系邮箱<EMAIL>谢谢"),
    ("邮箱：Li_Lei-2000@mail.163.com。", "邮箱：<EMAIL>。"),
    ("call +1 (555) 123-4567 today", "call <PHONE> today"),
    ("call 555-123-4567, (555) 123-4567 or 555.123.4567", "call <PHONE>, <PHONE> or <PHONE>"),
    ("office 555 123 4567", "office <PHONE>"),
    ("UK office: +44 20 7946 0958", "UK office: <PHONE>"),
    ("Paris +33 1 42 68 53 00.", "Paris <PHONE>."),
    ("+49-30-1234567 (Berlin)", "<PHONE> (Berlin)"),
    ("手机13812345678，谢谢", "手机<PHONE>，谢谢"),
    ("手机号：+86 138 1234 5678", "手机号：<PHONE>"),
    ("电话0086-13912345678", "电话<PHONE>"),
    ("请拨打138-1234-5678或(+86)15912345678", "请拨打<PHONE>或<PHONE>"),
    ("北京电话010-12345678", "北京电话<PHONE>"),
    ("深圳0755-1234567转分机", "深圳<PHONE>转分机"),
    ("上海(021) 12345678", "上海<PHONE>"),
    ("card 4111 1111 1111 1111 ok", "card <CARD> ok"),
    ("card 4111-1111-1111-1111", "card <CARD>"),
    ("visa 4111111111111111, amex 3782 822463 10005", "visa <CARD>, amex <CARD>"),
    ("银联卡6222021234567890128已绑定", "银联卡<CARD>已绑定"),
    ("IBAN DE89 3704 0044 0532 0130 00 AND more", "IBAN <ACCOUNT> AND more"),
    ("pay to GB82WEST12345698765432.", "pay to <ACCOUNT>."),
    ("账号：6222 0212 3456 7890 123", "账号：<ACCOUNT>"),
    ("收款账户6217000010012345670转账", "收款账户<ACCOUNT>转账"),
    ("account no. 12345678901", "account no. <ACCOUNT>"),
    ("Account number: 0012-3456-789", "Account number: <ACCOUNT>"),
    ("帐号88886666", "帐号<ACCOUNT>"),
    ("身份证号11010519491231002X，已核验", "身份证号<CN_ID>，已核验"),
    ("ID 11010519491231002x", "ID <CN_ID>"),
    ("旧身份证110105491231002。", "旧身份证<CN_ID>。"),
    ("server 192.168.1.1 and 10.0.0.255:8080", "server <IP> and <IP>:8080"),
    ("来自IP地址8.8.8.8的请求", "来自IP地址<IP>的请求"),
    ("v6 2001:db8::1 and ::1 and fe80::1%eth0", "v6 <IP> and <IP> and <IP>"),
    ("full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 here", "full <IP> here"),
    ("mapped ::ffff:192.0.2.128.", "mapped <IP>."),
]

NEGATIVES = [
    "In 2023 prices rose to $12,345.67 and ¥1,299.",
    "order 12345 shipped on 2023-01-15 at 12:30:45",
    "日期2023年11月29日，20230115，2023.01.15，2023/01/15",
    "订单号2023112912345678已发货",
    "tracking number 1Z999AA10123456784",
    "pi is 3.14159265358979323846",
    "a run 12345678901234567890123 too long",
    "prefix 138123456789 is 12 digits",
    "x13812345678 is a code",
    "order 13812345678",
    "version 1.2.3.4 and v1.2.3.4 and ver. 10.0.0.1",
    "版本号1.2.3.4",
    "five parts 1.2.3.4.5, octet 256.1.1.1, leading zero 01.2.3.4",
    "MAC 00:1A:2B:3C:4D:5E and time 12:30:45",
    "C++ std::vector and a::b",
    "user@localhost is not an address with a domain",
    "账号 1234567 is too short",
    "room 555-1234",
    "ISBN 978-3-16-148410-0",
]


@pytest.mark.parametrize("text,masked", POSITIVES)
def test_positives_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", NEGATIVES)
def test_negatives_are_kept(text: str) -> None:
    assert mask_text(text) == text, find_pii(text)


def test_counts_per_type() -> None:
    text = "a@b.io, 13812345678, 139-1234-5678, 4111111111111111, 11010519491231002X, 1.1.1.1, 账号88886666"
    masked, counts = mask_text_counts(text)
    assert masked == "<EMAIL>, <PHONE>, <PHONE>, <CARD>, <CN_ID>, <IP>, 账号<ACCOUNT>"
    assert counts == {"email": 1, "phone": 2, "card": 1, "cn_id": 1, "ip": 1, "account": 1}
    assert mask_text_counts("nothing here 2023") == ("nothing here 2023", {})


def test_selected_types_only_and_classification_is_independent() -> None:
    text = "mail a@b.io tel 13812345678 id 11010519491231002X"
    assert mask_text(text, ["phone"]) == "mail a@b.io tel <PHONE> id 11010519491231002X"
    # An ID number is never masked as a card or an account when cn_id is not selected.
    assert mask_text(text, ["card", "account"]) == text
    assert mask_text(text, []) == text
    assert mask_text(text, ("EMAIL", "cn_id")) == "mail <EMAIL> tel 13812345678 id <CN_ID>"


def test_unknown_type_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown PII type 'passport'.*email, phone, card, account, cn_id, ip"):
        mask_text("x", ["passport"])
    assert resolve_entities(None) == PII_ENTITIES
    assert resolve_entities(["ip", "ip", "email"]) == ("ip", "email")


def test_placeholders() -> None:
    assert PLACEHOLDERS == {
        "email": "<EMAIL>",
        "phone": "<PHONE>",
        "card": "<CARD>",
        "account": "<ACCOUNT>",
        "cn_id": "<CN_ID>",
        "ip": "<IP>",
    }


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert luhn_valid("378282246310005")
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE88370400440532013000")
    assert iban_valid("GB82WEST12345698765432")
    assert cn_id_valid("11010519491231002X") and cn_id_valid("110105491231002")
    assert not cn_id_valid("110105194912310021")  # check digit
    body = "11010519490230002"  # born on 30 February: the checksum is right, the date is not
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    assert cn_id_valid(
        body[:10]
        + "0228"
        + body[14:]
        + "10X98765432"[sum(int(d) * w for d, w in zip(body[:10] + "0228" + body[14:], weights)) % 11]
    )
    assert not cn_id_valid(body + check)
    assert not cn_id_valid("110105491331002")  # month 13


def test_bank_account_failing_luhn_is_account_and_passing_is_card() -> None:
    assert mask_text("转账到6217000010012345670") == "转账到<ACCOUNT>"
    digits = "621700001001234567"
    for last in "0123456789":
        number = digits + last
        expected = "<CARD>" if luhn_valid(number) else "<ACCOUNT>"
        assert mask_text(f"卡 {number}") == f"卡 {expected}"


def test_failed_checksums_are_not_cards_or_ids() -> None:
    # 16-19 digits that fail Luhn are (Chinese) bank account numbers, not cards nor resident IDs.
    assert mask_text("card-like 4111 1111 1111 1112 fails Luhn") == "card-like <ACCOUNT> fails Luhn"
    assert mask_text("ID 110105194912310021 bad check digit") == "ID <ACCOUNT> bad check digit"
    assert mask_text("ID 110105194913310025 bad month") == "ID <ACCOUNT> bad month"
    assert mask_text("ID 110105194913310025", ["cn_id", "card"]) == "ID 110105194913310025"
    # 15 digits: no account rule; a bad date is no old-form ID, and it fails Luhn: kept.
    assert mask_text("no 110105491331002") == "no 110105491331002"


def test_find_pii_spans() -> None:
    text = "tel 13812345678 mail a@b.io"
    items = find_pii(text)
    assert [(i.type, text[i.start : i.end]) for i in items] == [("phone", "13812345678"), ("email", "a@b.io")]


def test_mask_tokens_keeps_one_token_per_token() -> None:
    masker = PiiMasker()
    tokens = ["tel:13812345678,", "or", "138", "1234", "5678", "."]
    assert masker.mask_tokens(tokens) == ["tel:<PHONE>,", "or", "<PHONE>", "<PHONE>", "<PHONE>", "."]
    chars = list("电话13812345678谢谢")
    masked = masker.mask_tokens(chars)
    assert len(masked) == len(chars)
    assert masked[:2] == ["电", "话"] and masked[-2:] == ["谢", "谢"]
    assert set(masked[2:-2]) == {"<PHONE>"}
    assert masker.summary() == {"phone": 3}
    assert masker.mask_tokens(["no", "pii", "2023"]) == ["no", "pii", "2023"]
    two = PiiMasker(("email",)).mask_tokens(["a@b.io/c@d.io", "13812345678"])
    assert two == ["<EMAIL>/<EMAIL>", "13812345678"]
