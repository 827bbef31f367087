/*
 * The lot messages a fan-out writes (ws_proto.c): their fields for each
 * variant, the bids of a batch in order (the newest WS_UPDATE_BIDS_MAX
 * of them), and the shared bytes never
 * outliving the arguments they were made for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gavel/bids/v1/bids.pb-c.h"
#include "ws_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A feed of lot 7 at seq with leader, carrying bids (JSON objects joined
 * by ","); one reference. */
static ws_feed *feed(int64_t seq, int64_t leader, const char *bids, int nbids)
{
    ws_feed *f = xcalloc(1, sizeof *f);
    char state[128];
    snprintf(state, sizeof state, "{\"lotId\":\"7\",\"seq\":\"%lld\",\"leaderId\":\"%lld\"}",
             (long long)seq, (long long)leader);
    f->refs = 1;
    f->lot_id = 7;
    f->seq = seq;
    f->leader_id = leader;
    f->rank = seq * 4 + 2;
    f->state = xstrdup(state);
    f->state_len = strlen(state);
    f->bids = xstrdup(bids);
    f->bids_len = strlen(bids);
    f->nbids = nbids;
    return f;
}

/* The message as JSON (the caller decrefs). */
static json_t *message(ws_feed *f, bool is_snapshot, ws_feed *const *batch, int n,
                       bool is_leader, bool is_outbid)
{
    size_t len = 0;
    unsigned char *m = wsp_lot_message(f, is_snapshot, batch, n, is_leader, is_outbid, &len);
    json_error_t err;
    json_t *j = json_loadb((const char *)m, len, 0, &err);
    assert_non_null(j);
    return j;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static void each_variant_says_its_type_and_flags(void **state)
{
    (void)state;
    static const struct {
        bool is_snapshot, is_leader, is_outbid;
        const char *want_type;
    } cases[] = {
        { .is_snapshot = true, .is_leader = false, .want_type = "lot_snapshot" },
        { .is_snapshot = true, .is_leader = true, .want_type = "lot_snapshot" },
        { .is_snapshot = false, .is_leader = true, .want_type = "lot_update" },
        { .is_snapshot = false, .is_leader = false, .is_outbid = true, .want_type = "lot_update" },
        { .is_snapshot = false, .is_leader = false, .want_type = "lot_update" },
    };
    ws_feed *f = feed(3, 42, "{\"seq\":\"3\"}", 1);
    for (size_t i = 0; i < N(cases); i++) {
        json_t *j = message(f, cases[i].is_snapshot, &f, 1, cases[i].is_leader,
                            cases[i].is_outbid);
        assert_string_equal(str(j, "type"), cases[i].want_type);
        assert_string_equal(str(j, "lotId"), "7");
        assert_string_equal(str(j, "seq"), "3");
        assert_string_equal(str(json_object_get(j, "state"), "leaderId"), "42");
        assert_true(json_is_boolean(json_object_get(j, "leader")));
        assert_int_equal(json_is_true(json_object_get(j, "leader")), cases[i].is_leader);
        if (cases[i].is_snapshot) {
            assert_null(json_object_get(j, "bids"));
            assert_null(json_object_get(j, "outbid"));
        } else {
            assert_int_equal(json_is_true(json_object_get(j, "outbid")), cases[i].is_outbid);
            assert_int_equal(json_array_size(json_object_get(j, "bids")), 1);
        }
        assert_int_equal(strlen(str(j, "serverTime")), 27);
        json_decref(j);
    }
    wsp_feed_unref(f);
    wsp_buffer_free();
}

static void an_update_carries_the_bids_of_its_batch_in_order(void **state)
{
    (void)state;
    ws_feed *b[3] = { feed(4, 1, "{\"seq\":\"4\"}", 1), feed(5, 2, "", 0),
                      feed(7, 1, "{\"seq\":\"6\"},{\"seq\":\"7\"}", 2) };
    json_t *j = message(b[2], false, b, 3, false, false);
    json_t *bids = json_object_get(j, "bids");
    assert_int_equal(json_array_size(bids), 3);
    for (size_t i = 0; i < 3; i++) {
        static const char *want[] = { "4", "6", "7" };
        assert_string_equal(str(json_array_get(bids, i), "seq"), want[i]);
    }
    json_decref(j);
    /* a socket behind by one feed only: the same state, its bids alone */
    j = message(b[2], false, b + 2, 1, false, false);
    assert_int_equal(json_array_size(json_object_get(j, "bids")), 2);
    json_decref(j);
    /* no feed behind at all: the state with an empty bids array */
    j = message(b[2], false, NULL, 0, false, false);
    assert_int_equal(json_array_size(json_object_get(j, "bids")), 0);
    json_decref(j);
    for (size_t i = 0; i < 3; i++)
        wsp_feed_unref(b[i]);
    wsp_buffer_free();
}

/* A feed whose bids are seqs from..to, each {"seq":"<n>"}, with the
 * offsets of each as wsp_feed_unpack records them. */
static ws_feed *feed_of(int64_t from, int64_t to)
{
    int n = (int)(to - from + 1);
    char *bids = xcalloc((size_t)n, 24);
    size_t *at = xcalloc((size_t)n, sizeof *at), len = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            bids[len++] = ',';
        at[i] = len;
        len += (size_t)snprintf(bids + len, (size_t)n * 24 - len, "{\"seq\":\"%lld\"}",
                                (long long)(from + i));
    }
    ws_feed *f = feed(to, 1, bids, n);
    f->bid_at = at;
    free(bids);
    return f;
}

static void assert_seqs(json_t *j, int64_t from, int64_t to)
{
    json_t *bids = json_object_get(j, "bids");
    assert_int_equal(json_array_size(bids), (size_t)(to - from + 1));
    for (size_t i = 0; i < json_array_size(bids); i++) {
        char want[24];
        snprintf(want, sizeof want, "%lld", (long long)(from + (int64_t)i));
        assert_string_equal(str(json_array_get(bids, i), "seq"), want);
    }
}

static void an_update_lists_the_newest_bids_up_to_the_cap(void **state)
{
    (void)state;
    /* 55 bids behind over three feeds: the newest 32, cut inside the
     * first feed kept; a whole feed older than them is left out */
    ws_feed *b[3] = { feed_of(1, 10), feed_of(11, 50), feed_of(51, 55) };
    json_t *j = message(b[2], false, b, 3, false, false);
    assert_seqs(j, 55 - WS_UPDATE_BIDS_MAX + 1, 55);
    assert_string_equal(str(j, "seq"), "55");
    json_decref(j);
    /* one commit with more bids than the cap */
    j = message(b[1], false, b + 1, 1, false, false);
    assert_seqs(j, 50 - WS_UPDATE_BIDS_MAX + 1, 50);
    json_decref(j);
    /* exactly the cap: all of them */
    ws_feed *c[2] = { feed_of(56, 56 + WS_UPDATE_BIDS_MAX - 2),
                      feed_of(56 + WS_UPDATE_BIDS_MAX - 1, 56 + WS_UPDATE_BIDS_MAX - 1) };
    j = message(c[1], false, c, 2, false, false);
    assert_seqs(j, 56, 56 + WS_UPDATE_BIDS_MAX - 1);
    json_decref(j);
    for (size_t i = 0; i < 3; i++)
        wsp_feed_unref(b[i]);
    wsp_feed_unref(c[0]);
    wsp_feed_unref(c[1]);
    wsp_buffer_free();
}

static void shared_bytes_follow_the_newest_feed(void **state)
{
    (void)state;
    ws_feed *a = feed(8, 5, "{\"seq\":\"8\"}", 1);
    size_t la = 0, la2 = 0;
    const unsigned char *ma = wsp_lot_message(a, false, &a, 1, false, false, &la);
    const unsigned char *ma2 = wsp_lot_message(a, false, &a, 1, false, false, &la2);
    assert_ptr_equal(ma, ma2);
    assert_int_equal(la, la2);
    /* a's last reference goes while the message made of it is held; a
     * newer feed, possibly at the same address, gets its own message */
    wsp_feed_unref(a);
    ws_feed *b = feed(9, 6, "{\"seq\":\"9\"}", 1);
    json_t *j = message(b, false, &b, 1, true, false);
    assert_string_equal(str(j, "seq"), "9");
    assert_true(json_is_true(json_object_get(j, "leader")));
    json_decref(j);
    wsp_feed_unref(b);
    wsp_buffer_free();
}

/* The feed the bids service publishes for a venue lot, packed as on the
 * wire: its state's fair warning, venue flag and the room's paddle, and a
 * floor bid's paddle and an online bid's media time reach the sockets by
 * the generic mapping. */
static void a_venue_feed_carries_fair_warning_paddles_and_media_time(void **state)
{
    (void)state;
    Gavel__Bids__V1__LotState st = GAVEL__BIDS__V1__LOT_STATE__INIT;
    st.lot_id = 11;
    st.seq = 2;
    st.venue = true;
    st.leader_floor_paddle = 317;
    st.fair_warning_at_us = 1700000000123456;
    Gavel__Bids__V1__Bid floor = GAVEL__BIDS__V1__BID__INIT, online = GAVEL__BIDS__V1__BID__INIT;
    floor.lot_id = online.lot_id = 11;
    floor.seq = 2;
    floor.floor_paddle = 317;
    online.seq = 1;
    online.media_time_us = 1699999998000000;
    Gavel__Bids__V1__Bid *bids[] = { &online, &floor };
    Gavel__Bids__V1__LotFeed lf = GAVEL__BIDS__V1__LOT_FEED__INIT;
    lf.state = &st;
    lf.n_bids = 2;
    lf.bids = bids;
    size_t n = gavel__bids__v1__lot_feed__get_packed_size(&lf);
    uint8_t *buf = xmalloc(n);
    gavel__bids__v1__lot_feed__pack(&lf, buf);
    char err[256] = "";
    ws_feed *f = wsp_feed_unpack(buf, n, err, sizeof err);
    free(buf);
    assert_non_null(f);
    json_t *j = message(f, false, &f, 1, false, false);
    json_t *js = json_object_get(j, "state");
    assert_true(json_is_true(json_object_get(js, "venue")));
    assert_int_equal(json_integer_value(json_object_get(js, "leaderFloorPaddle")), 317);
    assert_string_equal(str(js, "fairWarningAtUs"), "1700000000123456");
    json_t *jb = json_object_get(j, "bids");
    assert_int_equal(json_array_size(jb), 2);
    assert_string_equal(str(json_array_get(jb, 0), "mediaTimeUs"), "1699999998000000");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jb, 1), "floorPaddle")),
                     317);
    json_decref(j);
    wsp_feed_unref(f);
    wsp_buffer_free();
}

/* The rank of a state read back from a packed LotFeed. */
static int64_t rank_of(int64_t seq, Gavel__Bids__V1__LotStatus status, int64_t warned_at)
{
    Gavel__Bids__V1__LotState st = GAVEL__BIDS__V1__LOT_STATE__INIT;
    st.lot_id = 12;
    st.seq = seq;
    st.status = status;
    st.venue = true;
    st.fair_warning_at_us = warned_at;
    Gavel__Bids__V1__LotFeed lf = GAVEL__BIDS__V1__LOT_FEED__INIT;
    lf.state = &st;
    size_t n = gavel__bids__v1__lot_feed__get_packed_size(&lf);
    uint8_t *buf = xmalloc(n);
    gavel__bids__v1__lot_feed__pack(&lf, buf);
    char err[256] = "";
    ws_feed *f = wsp_feed_unpack(buf, n, err, sizeof err);
    free(buf);
    assert_non_null(f);
    int64_t rank = f->rank;
    wsp_feed_unref(f);
    return rank;
}

/* A fair warning changes neither seq nor status: its feed must rank above
 * the state before it (the hub drops a feed of the same rank as a
 * duplicate), and the next bid or the hammer above the warning. */
static void a_fair_warning_outranks_the_state_it_follows(void **state)
{
    (void)state;
    const Gavel__Bids__V1__LotStatus live = GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_LIVE;
    const Gavel__Bids__V1__LotStatus closed = GAVEL__BIDS__V1__LOT_STATUS__LOT_STATUS_CLOSED;
    int64_t before = rank_of(5, live, 0), warned = rank_of(5, live, 1700000000000000);
    assert_true(warned > before);
    assert_true(rank_of(6, live, 0) > warned);
    assert_true(rank_of(5, closed, 0) > warned);
    assert_int_equal(rank_of(5, live, 1700000000000000), warned);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_variant_says_its_type_and_flags),
        cmocka_unit_test(an_update_carries_the_bids_of_its_batch_in_order),
        cmocka_unit_test(an_update_lists_the_newest_bids_up_to_the_cap),
        cmocka_unit_test(shared_bytes_follow_the_newest_feed),
        cmocka_unit_test(a_venue_feed_carries_fair_warning_paddles_and_media_time),
        cmocka_unit_test(a_fair_warning_outranks_the_state_it_follows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
