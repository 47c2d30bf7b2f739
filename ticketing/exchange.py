"""Exchange (改签): replace legs n.. of a confirmed booking by another itinerary's legs.

Pure: the money of an exchange offer. Definitions (README, ticketing/README.md):
- the replacement legs are priced per passenger category like a booking, with the kept legs
  (0..n-1, still active) in the journey for the linked discount; the kept legs' prices do
  not change;
- `price_difference` = new legs' price - the replaced legs' current price (negative: the
  passenger gets the difference back);
- `fee` = what the refund rules would keep if the replaced legs were cancelled now:
  sum over the replaced legs of price - round(price * refund fraction of its operator/mode
  rule at this time). An exchange more than `full_until_h` before departure is free,
  like the refund;
- `due` = price_difference + fee: > 0 is charged, < 0 refunded (recorded on the booking's
  paid/refund amounts; the payment itself is settled outside, as for confirm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ticketing.bookings import LegState, RefundPolicy, _refund
from ticketing.fares import FareConfig, price_units

__all__ = ["ExchangeMoney", "exchange_money"]


@dataclass(frozen=True)
class ExchangeMoney:
    new_prices: tuple[int, ...]   # price of each replacement leg (all passengers)
    old_minor: int                # current price of the replaced legs
    new_minor: int                # price of the replacement legs
    fee_minor: int                # exchange fee (refund rules)

    @property
    def difference_minor(self) -> int:
        return self.new_minor - self.old_minor

    @property
    def due_minor(self) -> int:
        return self.difference_minor + self.fee_minor


def exchange_money(fares: FareConfig, refunds: RefundPolicy, kept: Sequence[LegState],
                   replaced: Sequence[LegState], new_units: Sequence[tuple[int, str]],
                   new_operators: Sequence[str], categories: Sequence[str],
                   now: datetime) -> ExchangeMoney:
    """The money of replacing `replaced` by legs of these (unit price, source) and operators."""
    quote = price_units(fares, [(g.unit_minor, g.source) for g in kept] + list(new_units),
                        [g.operator for g in kept] + list(new_operators), categories)
    new_prices = tuple(p.amount_minor for p in quote.legs[len(kept):])
    old = sum(g.price_minor for g in replaced)
    fee = sum(g.price_minor - _refund(g.price_minor,
                                       refunds.rule(g.operator, g.mode).fraction(g.departure, now))
              for g in replaced)
    return ExchangeMoney(new_prices, old, sum(new_prices), fee)
