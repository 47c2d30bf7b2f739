"""ID numbers are ASCII digits (docs/GATES.md): a gate in another language normalises a card
to the same bytes the server indexed. Python's \\d alone also took fullwidth and other
scripts' digits, which int() reads: such a number passed every check and was indexed as bytes
no card reader gives."""

from __future__ import annotations

import pytest

from ticketing.checkin_errors import InvalidId
from ticketing.idcards import canonical_id

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize("id_type, number", [("prc_id", "11010519491231002X"),
                                             ("taiwan_permit", "12345678"),
                                             ("hk_macao_permit", "H12345678"),
                                             ("passport", "E12345678")])
@pytest.mark.parametrize("digits", [FULLWIDTH, ARABIC_INDIC])
def test_only_ascii_digits_make_an_id_number(id_type, number, digits):
    assert canonical_id(id_type, number) == f"{id_type}|{number}"
    # keep the region code ASCII so the PRC case reaches the digit checks
    other = number[:2] + number[2:].translate(digits)
    with pytest.raises(InvalidId):
        canonical_id(id_type, other)


def test_spaces_are_dropped_and_letters_upper_cased():
    assert canonical_id("passport", " e1234 5678\u3000") == "passport|E12345678"
