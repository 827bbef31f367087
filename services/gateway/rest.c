/*
 * What a request does: the route table picks the row; the gateway's own
 * routes answer at once; the others run as a job on a worker.
 */
#include <string.h>

#include "request.h"
#include "routes.h"

int gw_rest_dispatch(gw_req *r)
{
    const char *allow = NULL;
    r->route = gw_route_match(r->method, r->path, r->a, r->params, &allow);
    if (r->route == NULL) {
        if (allow == NULL) {
            gw_answer_error(r, 404, "not_found", "no route %s", r->path);
            return 1;
        }
        r->allow = allow;
        if (r->method == GW_OPTIONS) {
            r->is_preflight = true;
            r->status = 204;
            r->out = gw_answer_alloc(r, 0);
            r->out_len = 0;
            return 1;
        }
        gw_answer_error(r, 405, "method_not_allowed", "%s takes %s", r->path, allow);
        return 1;
    }
    if (r->route->local != NULL) {
        r->route->local(r);
        return 1;
    }
    gw_answer_error(r, 501, "unimplemented", "not yet served");
    return 1;
}
