/*
 * The RPCs behind the gateway's REST routes, called directly over gRPC,
 * for the gateway's overhead (tests/bench/gateway.sh).
 *
 *   gavel-bench getlot TARGET CONCURRENCY SECONDS TOKEN LOT_ID
 *       keeps CONCURRENCY Auctions/GetLot calls of lot LOT_ID in flight on
 *       one completion queue with "authorization: Bearer TOKEN", as
 *       GET /api/v1/lots/{lot_id} does through the gateway
 *
 * PlaceBid, as POST /api/v1/lots/{lot_id}/bids does, is gavel-bench place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "gavel/auctions/v1/auctions.pb-c.h"

static int run_getlot(const char *target, int conc, int seconds, const char *token,
                      const char *lot)
{
    char *end = NULL;
    long long lot_id = strtoll(lot, &end, 10);
    if (end == lot || *end != '\0' || lot_id < 1) {
        fprintf(stderr, "not a lot id: %s\n", lot);
        return 2;
    }
    Gavel__Auctions__V1__GetLotRequest q = GAVEL__AUCTIONS__V1__GET_LOT_REQUEST__INIT;
    q.lot_id = lot_id;
    char *bearer = xasprintf("Bearer %s", token);
    grpc_metadata auth = { 0 };
    auth.key = grpc_slice_from_static_string("authorization");
    auth.value = grpc_slice_from_copied_string(bearer);
    free(bearer);
    int rc = run_unary_load(target, "/gavel.auctions.v1.Auctions/GetLot", &q.base, &auth, 1,
                            conc, seconds);
    grpc_slice_unref(auth.value);
    return rc;
}

int run_rest(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "getlot") == 0)
        return run_getlot(argv[2], arg_int(argv[3]), arg_int(argv[4]), argv[5], argv[6]);
    fprintf(stderr, "usage: see gavel-bench without arguments\n");
    return 2;
}
