"""Search and Suggest through the gateway's REST routes."""
import urllib.parse

import gavel_harness as h
from search_kit import new_lot_id, tag, upserted


def test_search_and_suggest_over_rest(gateway, finder, events):
    rest = h.Rest(gateway)
    user = rest.register()
    word = tag()
    seller = new_lot_id()
    lot_id = new_lot_id()
    events.lot(upserted(lot_id, 10 ** 15, seller_id=seller, title="Kia Sportage " + word,
                        make="Kia", model="Sportage"))
    finder.wait_hit(lot_id)
    got = rest.ok("POST", "/api/v1/search", {
        "query": word, "filterJson": '[["eq","seller_id",%d]]' % seller,
        "facets": [{"field": "make"}], "page": {"pageSize": 5}}, user.token)
    assert [hit["lot"]["lotId"] for hit in got["hits"]] == [str(lot_id)]
    assert got["facets"][0]["buckets"] == [{"key": "Kia", "count": "1"}]
    assert "<em>" in got["hits"][0]["highlights"][0]
    got = rest.ok("GET", "/api/v1/search?" + urllib.parse.urlencode({"query": word}),
                  token=user.token)
    assert [hit["lot"]["lotId"] for hit in got["hits"]] == [str(lot_id)]
    got = rest.ok("GET", "/api/v1/search/suggest?" + urllib.parse.urlencode(
        {"prefix": "kia sportage " + word[:6]}), token=user.token)
    assert any(s["text"] == "Kia Sportage " + word for s in got["suggestions"])
    bad = rest.call("POST", "/api/v1/search", {"filterJson": "[[\"eq\",\"nope\",1]]"},
                    user.token)
    assert bad.status == 400 and "nope" in bad.error["message"], bad
    assert rest.call("GET", "/api/v1/search?query=x").status == 401
