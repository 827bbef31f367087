"""Full text in Russian and English (stemmed), typo tolerance by trigrams,
highlights, and Suggest."""
import grpc

import gavel_harness as h
from search_kit import new_lot_id, tag, upserted
from gavel.search.v1 import search_pb2 as spb


def put(events, finder, **over):
    lot_id = new_lot_id()
    events.lot(upserted(lot_id, 10 ** 15, **over))
    finder.wait_hit(lot_id)
    return lot_id


def scoped(seller):
    return '[["eq","seller_id",%d]]' % seller


def test_russian_and_english_stemming(events, finder):
    seller = new_lot_id()
    vesta = put(events, finder, seller_id=seller, title="Лада Веста универсал",
                make="Лада", model="Веста", description="Один владелец, гаражное хранение.")
    latin = put(events, finder, seller_id=seller, title="Lada Vesta SW Cross", make="Lada",
                model="Vesta", description="Two owners, serviced by dealers.")
    other = put(events, finder, seller_id=seller, title="Kia Rio", make="Kia", model="Rio",
                description="City car.")
    assert finder.ids("веста", scoped(seller)) == [vesta]
    assert finder.ids("ВЕСТЫ", scoped(seller)) == [vesta]       # case and inflection
    assert finder.ids("хранения", scoped(seller)) == [vesta]    # Russian stem in description
    assert finder.ids("vesta", scoped(seller)) == [latin]
    assert finder.ids("owner", scoped(seller)) == [latin]       # English stem: owners
    assert finder.ids("dealer", scoped(seller)) == [latin]
    assert other not in finder.ids("vesta", scoped(seller))
    assert finder.ids("JTNB11HK0K3012345", scoped(seller)) != []  # VIN


def test_typos_find_the_intended_make(events, finder):
    seller = new_lot_id()
    toyota = put(events, finder, seller_id=seller, title="Toyota Land Cruiser 200",
                 make="Toyota", model="Land Cruiser")
    put(events, finder, seller_id=seller, title="Volvo XC90", make="Volvo", model="XC90")
    assert finder.ids("Toyta", scoped(seller)) == [toyota]
    assert finder.ids("Cruser", scoped(seller)) == [toyota]
    assert finder.ids("Tayota Land", scoped(seller)) == [toyota]


def test_highlights_mark_matches_and_escape_html(events, finder):
    seller = new_lot_id()
    word = tag()
    lot = put(events, finder, seller_id=seller, title="Skoda <b>Octavia</b> %s" % word,
              description="Clean & tidy %s, the second owner since 2020." % word)
    hit = finder.search(word, scoped(seller)).hits[0]
    assert hit.lot.lot_id == lot
    assert hit.score > 0
    title = [x for x in hit.highlights if "Skoda" in x]
    assert title == ["Skoda &lt;b&gt;Octavia&lt;/b&gt; <em>%s</em>" % word], hit.highlights
    desc = [x for x in hit.highlights if "tidy" in x]
    assert desc and "<em>%s</em>" % word in desc[0] and "&amp;" in desc[0], hit.highlights
    # no text, no highlights
    assert list(finder.search("", scoped(seller)).hits[0].highlights) == []


def test_suggest_is_case_and_accent_insensitive_and_ranked_by_lot_count(
        events, finder, search_stub, bidder):
    word = tag()
    make_a, make_b = word.capitalize() + "é", word.capitalize() + "ex"
    for _ in range(3):
        put(events, finder, make=make_b, model="Alpha", title="%s Alpha" % make_b)
    put(events, finder, make=make_a, model="Beta", title="%s Beta" % make_a)
    resp = h.call(search_stub.Suggest, spb.SuggestRequest(prefix=word.upper(), size=20),
                  bidder.md)
    got = [(s.text, s.kind, s.lot_count) for s in resp.suggestions]
    makes = [g for g in got if g[1] == spb.SUGGESTION_KIND_MAKE]
    assert makes == [(make_b, spb.SUGGESTION_KIND_MAKE, 3), (make_a, spb.SUGGESTION_KIND_MAKE, 1)]
    assert (make_b + " Alpha", spb.SUGGESTION_KIND_MODEL, 3) in got
    counts = [g[2] for g in got]
    assert counts == sorted(counts, reverse=True)
    # accents: "é" is matched by "e"
    resp = h.call(search_stub.Suggest, spb.SuggestRequest(prefix=word + "e"), bidder.md)
    assert make_a in [s.text for s in resp.suggestions]
    for bad in (spb.SuggestRequest(prefix=""), spb.SuggestRequest(prefix="x" * 101),
                spb.SuggestRequest(prefix="ab", size=21)):
        h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, search_stub.Suggest, bad, bidder.md)
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, search_stub.Suggest,
                   spb.SuggestRequest(prefix="to"))
