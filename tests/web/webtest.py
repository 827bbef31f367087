"""Helpers of the browser tests (tests/web/): accounts as the node scripts
take them, and lots made for the browser."""


def account_json(acc):
    return {"id": str(acc.id), "email": acc.email, "password": acc.password,
            "profile": acc.profile, "tokens": acc.tokens}


def live_lot(market, seller, duration_s=600, **over):
    """A live lot without photos on other hosts (the browser would fetch
    them, and a failed fetch is a console error)."""
    over.setdefault("photoUrls", [])
    return market.live(seller, duration_s=duration_s, **over)
