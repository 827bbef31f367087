/*
 * The one call payments makes to the auctions service: the settlement fees
 * of a sold lot, priced by QuoteServices from the auctions' price rules
 * (the buyer's premium and the seller's commission, per mille of the
 * hammer price, or a rule's flat fee). The settlement step that asks
 * (settle.c) fixes the answer in the settlement row once; this file only
 * asks and checks that the answer is one it can record.
 */
#include <stdio.h>
#include <string.h>

#include "payments.h"
#include "gavel/auctions/v1/auctions.pb-c.h"

const rpc_client_method auctions_quote_services = {
    "/gavel.auctions.v1.Auctions/QuoteServices", &gavel__auctions__v1__auctions__descriptor,
    &gavel__auctions__v1__quote_services_request__descriptor,
    &gavel__auctions__v1__quote_services_response__descriptor
};

#define AUCTIONS_DEADLINE_MS 5000

static char *fee_codes[] = { "buyer_premium", "seller_commission" };

/* Line i of the answer as a fee in *units. 0, or -1 with err set. */
static int fee_line(const Gavel__Auctions__V1__QuoteServicesResponse *r, size_t i,
                    int64_t *units, int64_t *rule, char *currency, char *err, size_t errlen)
{
    const Gavel__Auctions__V1__QuoteLine *l = r->lines[i];
    const Gavel__Common__V1__Money *m = l->price;
    if (strcmp(l->service, fee_codes[i]) != 0 || m == NULL || !check_money_units(m->units, 0) ||
        strlen(m->currency) != 3 || l->rule_id < 0) {
        snprintf(err, errlen, "QuoteServices answered line %zu (%.40s) without a fee of %s in "
                              "range", i, l->service, fee_codes[i]);
        return -1;
    }
    if (i > 0 && strcmp(currency, m->currency) != 0) {
        snprintf(err, errlen, "QuoteServices priced the fees in %s and %.3s", currency,
                 m->currency);
        return -1;
    }
    snprintf(currency, 4, "%s", m->currency);
    *units = m->units;
    *rule = l->rule_id;
    return 0;
}

grpc_status_code auctions_quote_fees(int64_t lot_id, pay_fees *out, char *err, size_t errlen)
{
    Gavel__Auctions__V1__QuoteServicesRequest q =
        GAVEL__AUCTIONS__V1__QUOTE_SERVICES_REQUEST__INIT;
    q.subject_case = GAVEL__AUCTIONS__V1__QUOTE_SERVICES_REQUEST__SUBJECT_LOT_ID;
    q.lot_id = lot_id;
    q.n_services = sizeof fee_codes / sizeof fee_codes[0];
    q.services = fee_codes;
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = pay_service_call(pay.auctions_addr, &auctions_quote_services, &q.base,
                                           &resp, AUCTIONS_DEADLINE_MS, err, errlen);
    if (st != GRPC_STATUS_OK)
        return st;
    const Gavel__Auctions__V1__QuoteServicesResponse *r = (const void *)resp;
    pay_fees f = { 0 };
    if (r->n_lines != q.n_services) {
        snprintf(err, errlen, "QuoteServices answered %zu lines for %zu fees", r->n_lines,
                 q.n_services);
        st = GRPC_STATUS_INTERNAL;
    } else if (fee_line(r, 0, &f.buyer_fee, &f.buyer_rule, f.currency, err, errlen) < 0 ||
               fee_line(r, 1, &f.seller_fee, &f.seller_rule, f.currency, err, errlen) < 0) {
        st = GRPC_STATUS_INTERNAL;
    } else {
        *out = f;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}
