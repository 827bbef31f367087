/*
 * /openapi.json: the OpenAPI 3.1 document of the route table.
 */
#include "request.h"
#include "routes.h"

void gw_openapi_serve(gw_req *r);

void gw_openapi_serve(gw_req *r)
{
    json_t *doc = json_pack("{s:s}", "openapi", "3.1.0");
    gw_answer_json(r, 200, doc);
    json_decref(doc);
}
