/*
 * /openapi.json: the OpenAPI 3.1 document of the route table, built once at
 * start-up from the rows and the protobuf descriptors (pbj_schema_ref gives
 * every message's schema, and a parameter's schema is its field's property
 * there), then served as the same bytes to everyone. Nothing in it is
 * written by hand per route but the row's one-line summary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pbjson/pbjson.h>

#include "live.h"
#include "request.h"
#include "routes.h"

static char *doc_text;     /* the dumped document; lives until gw_openapi_free */
static size_t doc_len;

static const char *const method_keys[GW_METHODS] = {
    [GW_GET] = "get", [GW_POST] = "post", [GW_PUT] = "put", [GW_PATCH] = "patch",
    [GW_DELETE] = "delete", [GW_HEAD] = "head", [GW_OPTIONS] = "options",
};
static const char *const rate_names[GW_RATE_CLASSES] = {
    [GW_RATE_READ] = "read", [GW_RATE_WRITE] = "write", [GW_RATE_AUTH] = "auth",
    [GW_RATE_WS_MSG] = "ws_message",
};

/* The schema of field json_name of message msg, as components holds it. */
static json_t *prop_schema(json_t *schemas, const char *msg, const char *json_name)
{
    json_t *s = json_object_get(json_object_get(json_object_get(schemas, msg), "properties"),
                                json_name);
    return s != NULL ? json_deep_copy(s) : json_object();
}

static json_t *param(const char *name, const char *in, bool is_required, json_t *schema,
                     const char *description)
{
    json_t *p = json_pack("{s:s,s:s,s:b,s:o}", "name", name, "in", in, "required", is_required,
                          "schema", schema);
    if (description != NULL)
        json_object_set_new(p, "description", json_string(description));
    return p;
}

static bool is_path_param(const gw_route *r, const char *proto_name)
{
    for (size_t i = 0; gw_route_param(r, i) != NULL; i++)
        if (strcmp(gw_route_param(r, i), proto_name) == 0)
            return true;
    return false;
}

/* Query parameters of a route without a body: the request's fields not in
 * the path, and one level into message fields ("page.pageSize"). */
static void add_query_params(json_t *params, json_t *schemas, const gw_route *r)
{
    const ProtobufCMessageDescriptor *d = r->rpc->request;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (is_path_param(r, f->name))
            continue;
        char jn[128];
        pbj_json_name(f->name, jn, sizeof jn);
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
            json_array_append_new(params, param(jn, "query", false,
                                                prop_schema(schemas, d->name, jn), NULL));
            continue;
        }
        const ProtobufCMessageDescriptor *sub = f->descriptor;
        json_decref(pbj_schema_ref(sub, 0, schemas));
        for (unsigned k = 0; k < sub->n_fields; k++) {
            const ProtobufCFieldDescriptor *sf = &sub->fields[k];
            if (sf->type == PROTOBUF_C_TYPE_MESSAGE)
                continue;
            char sj[128], name[272];
            pbj_json_name(sf->name, sj, sizeof sj);
            snprintf(name, sizeof name, "%s.%s", jn, sj);
            json_array_append_new(params, param(name, "query", false,
                                                prop_schema(schemas, sub->name, sj), NULL));
        }
    }
}

static json_t *request_body(json_t *schemas, const gw_route *r)
{
    const ProtobufCMessageDescriptor *d = r->rpc->request;
    if (strcmp(r->body, "*") != 0)
        d = protobuf_c_message_descriptor_get_field_by_name(d, r->body)->descriptor;
    json_t *ref = pbj_schema_ref(d, 0, schemas);
    return json_pack("{s:b,s:{s:{s:o}}}", "required", false, "content", "application/json",
                     "schema", ref);
}

/* A gateway's own route with a body takes it raw, of the row's media
 * types ("image/jpeg, image/png"). */
static json_t *raw_body(const gw_route *r)
{
    json_t *content = json_object();
    char types[128];
    snprintf(types, sizeof types, "%s", r->body);
    for (char *save = NULL, *t = strtok_r(types, ", ", &save); t != NULL;
         t = strtok_r(NULL, ", ", &save))
        json_object_set_new(content, t, json_pack("{s:{s:s,s:s}}", "schema", "type", "string",
                                                  "contentEncoding", "binary"));
    return json_pack("{s:b,s:o}", "required", true, "content", content);
}

static json_t *responses(json_t *schemas, const gw_route *r)
{
    json_t *ok = r->rpc != NULL ? pbj_schema_ref(r->rpc->response, 0, schemas)
                                : json_pack("{s:s}", "type", "object");
    if (r->rpc == NULL && r->body != NULL) /* an upload: 201 and its own errors */
        return json_pack("{s:{s:s,s:{s:{s:o}}},s:o,s:o,s:o,s:o,s:o,s:o}", "201",
                         "description", "Stored", "content", "application/json", "schema", ok,
                         "400", json_pack("{s:s}", "$ref", "#/components/responses/Error"),
                         "401", json_pack("{s:s}", "$ref", "#/components/responses/Error"),
                         "403", json_pack("{s:s}", "$ref", "#/components/responses/Error"),
                         "413", json_pack("{s:s}", "$ref", "#/components/responses/Error"),
                         "415", json_pack("{s:s}", "$ref", "#/components/responses/Error"),
                         "429", json_pack("{s:s}", "$ref", "#/components/responses/Error"));
    json_t *out = json_pack("{s:{s:s,s:{s:{s:o}}}}", "200", "description", "OK", "content",
                            "application/json", "schema", ok);
    static const char *const errors[] = { "400", "401", "403", "404", "409", "413", "429",
                                          "503", "504" };
    for (size_t i = 0; r->rpc != NULL && i < sizeof errors / sizeof errors[0]; i++)
        json_object_set_new(out, errors[i],
                            json_pack("{s:s}", "$ref", "#/components/responses/Error"));
    return out;
}

static json_t *operation(json_t *schemas, const gw_route *r, const char *op_id)
{
    json_t *params = json_array();
    if (r->rpc != NULL) /* the request's own schema: its fields' are the parameters' */
        json_decref(pbj_schema_ref(r->rpc->request, 0, schemas));
    for (size_t i = 0; gw_route_param(r, i) != NULL; i++)
        json_array_append_new(params,
                              param(gw_route_param(r, i), "path", true,
                                    r->rpc != NULL
                                        ? prop_schema(schemas, r->rpc->request->name,
                                                      gw_route_param_json(r, i))
                                        : json_pack("{s:s}", "type", "string"), NULL));
    if (r->rpc != NULL && r->body == NULL)
        add_query_params(params, schemas, r);
    if (r->idem_field != NULL)
        json_array_append_new(params, param("Idempotency-Key", "header",
                                            (r->flags & GW_R_KEY_REQUIRED) != 0,
                                            json_pack("{s:s,s:i,s:i}", "type", "string",
                                                      "minLength", 1, "maxLength", 128),
                                            "Repeating a call with the same key returns the "
                                            "first answer instead of acting twice."));
    if (r->flags & GW_R_WEBHOOK)
        json_array_append_new(params, param("Gavel-Signature", "header", true,
                                            json_pack("{s:s}", "type", "string"),
                                            "t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                                            "\"<t>.<body>\"> with the webhook secret "
                                            "(docs/payments-provider.md)"));
    json_array_append_new(params, json_pack("{s:s}", "$ref", "#/components/parameters/RequestId"));
    if (r->rpc != NULL)
        json_array_append_new(params,
                              json_pack("{s:s}", "$ref", "#/components/parameters/Timeout"));
    json_t *op = json_pack("{s:s,s:s,s:o,s:o}", "operationId", op_id, "summary", r->summary,
                           "parameters", params, "responses", responses(schemas, r));
    if (r->rpc != NULL) {
        json_object_set_new(op, "x-grpc-method", json_string(r->rpc->name));
        json_object_set_new(op, "x-rate-class", json_string(rate_names[r->rate]));
        json_object_set_new(op, "tags", json_pack("[s]", r->rpc->service->short_name));
    } else if (r->flags & GW_R_JOB) { /* served by the gateway itself, rate-limited */
        json_object_set_new(op, "x-rate-class", json_string(rate_names[r->rate]));
        json_object_set_new(op, "tags", json_pack("[s]", "Gateway"));
    }
    if (r->flags & GW_R_WEBHOOK) /* the provider's event, passed on byte for byte */
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:{s:s}}}}", "required", true, "content",
                                      "application/json", "schema", "type", "object"));
    else if (r->rpc != NULL && r->body != NULL)
        json_object_set_new(op, "requestBody", request_body(schemas, r));
    else if (r->body != NULL)
        json_object_set_new(op, "requestBody", raw_body(r));
    json_object_set_new(op, "security", r->auth == GW_AUTH_TOKEN
                                            ? json_pack("[{s:[]}]", "bearer")
                                            : json_array());
    return op;
}

static json_t *components(json_t *schemas)
{
    json_t *error = json_pack(
        "{s:s,s:[s],s:{s:{s:s,s:[s,s,s],s:{s:{s:s},s:{s:s},s:{s:s}}}}}", "type", "object",
        "required", "error", "properties", "error", "type", "object", "required", "code",
        "message", "request_id", "properties", "code", "type", "string", "message", "type",
        "string", "request_id", "type", "string");
    json_object_set_new(schemas, "Error", error);
    return json_pack(
        "{s:o,s:{s:{s:s,s:s,s:s}},s:{s:{s:s,s:{s:{s:{s:s}}}}},"
        "s:{s:{s:s,s:s,s:b,s:{s:s,s:s},s:s},s:{s:s,s:s,s:b,s:{s:s,s:i},s:s}}}",
        "schemas", schemas,
        "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "bearerFormat", "JWT",
        "responses", "Error", "description", "An error; code is the gRPC status word",
        "content", "application/json", "schema", "$ref", "#/components/schemas/Error",
        "parameters",
        "RequestId", "name", "X-Request-Id", "in", "header", "required", 0, "schema", "type",
        "string", "pattern", "^[A-Za-z0-9._-]{1,64}$", "description",
        "Follows the request through every service and comes back in the answer; a new one "
        "is made when absent or malformed.",
        "Timeout", "name", "X-Request-Timeout-Ms", "in", "header", "required", 0, "schema",
        "type", "integer", "minimum", 1, "description",
        "The call's deadline in milliseconds (default GAVEL_GATEWAY_DEADLINE_MS, at most "
        "GAVEL_GATEWAY_MAX_DEADLINE_MS); past it the answer is 504.");
}

int gw_openapi_init(char *err, size_t errlen)
{
    json_t *schemas = json_object();
    json_t *paths = json_object();
    char op_id[128];
    for (const gw_route *r = gw_routes; r->path != NULL; r++) {
        json_t *item = json_object_get(paths, r->path);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, r->path, item);
        }
        const char *base = r->rpc != NULL ? strrchr(r->rpc->name, '/') + 1
                           : r->local == gw_media_upload ? "UploadMedia"
                           : r->local == gw_media_serve  ? "GetMedia"
                           : r->local == gw_live_serve   ? "GetLiveFile"
                                                         : "GetOpenApi";
        int uses = 0;
        for (const gw_route *q = gw_routes; q != r; q++)
            uses += q->rpc != NULL && r->rpc != NULL && q->rpc == r->rpc;
        if (uses > 0)
            snprintf(op_id, sizeof op_id, "%s%d", base, uses + 1);
        else
            snprintf(op_id, sizeof op_id, "%s", base);
        json_object_set_new(item, method_keys[r->method], operation(schemas, r, op_id));
    }
    json_t *doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:o}", "openapi", "3.1.0", "info", "title",
        "Gavel API", "version", "1", "description",
        "REST/JSON over Gavel's gRPC services. Bodies and answers follow the proto3 JSON "
        "mapping (lowerCamelCase or proto field names, 64-bit integers as strings, enums by "
        "name). Errors are {\"error\":{\"code\",\"message\",\"request_id\"}}.",
        "servers", "url", "/", "paths", paths, "components", components(schemas));
    if (doc == NULL) {
        snprintf(err, errlen, "the OpenAPI document could not be built");
        return -1;
    }
    doc_text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (doc_text == NULL) {
        snprintf(err, errlen, "the OpenAPI document could not be written");
        return -1;
    }
    doc_len = strlen(doc_text);
    return 0;
}

void gw_openapi_free(void)
{
    free(doc_text);
    doc_text = NULL;
    doc_len = 0;
}

void gw_openapi_serve(gw_req *r)
{
    unsigned char *out = gw_answer_alloc(r, doc_len);
    memcpy(out, doc_text, doc_len);
    r->status = 200;
    r->out = out;
    r->out_len = doc_len;
}
