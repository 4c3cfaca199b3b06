# Writes Quartermaster's books (JSON on stdin) as a GnuCash XML book through
# GnuCash's own Python bindings, so GnuCash itself builds and balances every
# transaction. Run by Debian's /usr/bin/python3 (python3-gnucash + gnucash).
import json
import sys

import gnucash
from gnucash import Account, GncNumeric, Session, SessionOpenMode, Split, Transaction

data = json.load(sys.stdin)
book_data = data["book"]
session = Session("xml://" + data["path"], SessionOpenMode.SESSION_NEW_OVERWRITE)
try:
    book = session.book
    root = book.get_root_account()
    currency = book.get_table().lookup("CURRENCY", book_data["currency"])
    if currency is None:
        raise SystemExit("GnuCash does not know the currency " + book_data["currency"])
    denom = 10 ** book_data["exponent"]
    types = {
        "asset": gnucash.ACCT_TYPE_ASSET,
        "liability": gnucash.ACCT_TYPE_LIABILITY,
        "equity": gnucash.ACCT_TYPE_EQUITY,
        "revenue": gnucash.ACCT_TYPE_INCOME,
        "expense": gnucash.ACCT_TYPE_EXPENSE,
    }
    accounts = {}
    for full, code, kind in book_data["accounts"]:
        parent = root
        parts = full.split(":")
        for i in range(len(parts)):
            key = ":".join(parts[: i + 1])
            if key not in accounts:
                acc = Account(book)
                acc.SetName(parts[i])
                acc.SetType(types[kind])
                acc.SetCommodity(currency)
                if i < len(parts) - 1:
                    acc.SetPlaceholder(True)
                parent.append_child(acc)
                accounts[key] = acc
            parent = accounts[key]
        accounts[full].SetCode(code)
    # An account in an edit sorts its splits and recomputes its balance once,
    # at CommitEdit, instead of after every split (quadratic on big books).
    for acc in accounts.values():
        acc.BeginEdit()
    for t in book_data["transactions"]:
        if not t["splits"]:
            continue
        year, month, day = (int(x) for x in t["date"].split("-"))
        tx = Transaction(book)
        tx.BeginEdit()
        tx.SetCurrency(currency)
        tx.SetDate(day, month, year)
        tx.SetNum(str(t["id"]))
        tx.SetDescription(t["memo"])
        for account, amount in t["splits"]:
            split = Split(book)
            split.SetParent(tx)
            split.SetAccount(accounts[account])
            split.SetValue(GncNumeric(amount, denom))
            split.SetAmount(GncNumeric(amount, denom))
        tx.CommitEdit()
    for acc in accounts.values():
        acc.CommitEdit()
    session.save()
finally:
    session.end()
