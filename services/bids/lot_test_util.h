/*
 * Fixtures shared by the bidding engine's unit tests: one lot's rules
 * with eBay's published increment table (in cents), and a clock in
 * seconds from the lot's start.
 */
#ifndef GAVEL_BIDS_LOT_TEST_UTIL_H
#define GAVEL_BIDS_LOT_TEST_UTIL_H

#include <string.h>

#include "lot.h"

#define T_LOT 7
#define T_SELLER 1
#define T_A 11
#define T_B 12
#define T_C 13
#define T_START_US INT64_C(1700000000000000)
#define T_LEN_S 3600

/* Server time s seconds after the lot's start. */
#define AT(s) (T_START_US + (int64_t)(s) * 1000000)

/* eBay's bid increments by price band, in cents. */
#define EBAY_BANDS                                                                      \
    { { 0, 5 }, { 100, 25 }, { 500, 50 }, { 2500, 100 }, { 10000, 250 }, { 25000, 500 }, \
      { 50000, 1000 }, { 100000, 2500 }, { 250000, 5000 }, { 500000, 10000 } }
#define EBAY_NBANDS 10

/* Rules of a live lot from AT(0) to AT(T_LEN_S), start 100, eBay bands, no
 * reserve, buy-now or soft close. */
static inline lot_rules test_rules(void)
{
    lot_rules r = {
        .lot_id = T_LOT,
        .seller_id = T_SELLER,
        .currency = "EUR",
        .start_price = 100,
        .bands = EBAY_BANDS,
        .nbands = EBAY_NBANDS,
        .starts_at_us = AT(0),
        .ends_at_us = AT(T_LEN_S),
    };
    return r;
}

/* 64 lower-case hex digits into 32 bytes (hash vectors). */
static inline void unhex(const char *hex, uint8_t out[32])
{
    for (size_t i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
}

#endif
