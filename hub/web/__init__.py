"""The hub's web layer.

Importing it registers the ``id`` path convertor: ``/api/orders/{order_id:id}`` matches 0 to
2,147,483,647 (what an id column holds on PostgreSQL) and gives an int. A larger id is simply no
such path, a 404: Starlette's ``int`` takes any number of digits, and 2**63 crashed SQLite while
2**31 crashed PostgreSQL's look-up.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from hub.db import INT_MAX


def up_to(limit: int) -> str:
    """A regular expression for the whole numbers 0 to ``limit`` (no leading zeros needed)."""
    digits = str(limit)
    choices = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for place, digit in enumerate(digits):
        lowest = 1 if place == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - place - 1
            choices.append(f"{digits[:place]}[{lowest}-{int(digit) - 1}][0-9]{{{rest}}}")
    choices.append(digits)
    return "(?:" + "|".join(choices) + ")"


class IdConvertor(Convertor[int]):
    regex = up_to(INT_MAX)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("id", IdConvertor())
