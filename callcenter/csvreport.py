"""How every CSV import reports a bad row (CRM customers and transactions, dialer contact lists):
one line per problem, ``row N, column C: reason``, so an admin can fix a file in one pass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One problem in one row. Rows are counted as a spreadsheet or an editor shows them (the
    header is row 1); `column` is the header name, or ``*`` for the row as a whole."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"
