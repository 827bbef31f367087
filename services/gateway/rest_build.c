/*
 * A request message from the parts of an HTTP request, through libs/pbjson
 * only: the JSON body (the whole message, or one message field of it), the
 * path parameters, the query parameters of a route without a body, and
 * the Idempotency-Key header. Without path or query parameters or a key
 * the body decodes straight into the message; otherwise the decoded body
 * is encoded back into a JSON tree (so its size was bounded by pbj_decode's
 * pre-scan), the other parts are added to the tree, and the tree decodes
 * once more. Every refusal is a 400 (415 for a body that is not JSON)
 * naming the field or the position.
 *
 * A provider's webhook (GW_R_WEBHOOK) is not decoded at all: its bytes go
 * to the service exactly as received, beside its signature header, since
 * the signature is over those bytes.
 *
 * A part may not contradict another: a body field with another value than
 * the path's, or a key in the body that differs from the header, is
 * refused rather than one silently winning.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pbjson/pbjson.h>

#include "request.h"
#include "rest.h"
#include "routes.h"

#define NAME_LEN 128

static int refuse(gw_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(gw_req *r, int status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gw_answer_error(r, status, status == 415 ? "unsupported_media_type" : "invalid_argument",
                    "%s", msg);
    return status;
}

/* The field of d named key in either spelling, or NULL. */
static const ProtobufCFieldDescriptor *field_by_key(const ProtobufCMessageDescriptor *d,
                                                    const char *key)
{
    if (d == NULL)
        return NULL;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    for (unsigned i = 0; f == NULL && i < d->n_fields; i++) {
        char jn[NAME_LEN];
        pbj_json_name(d->fields[i].name, jn, sizeof jn);
        if (strcmp(jn, key) == 0)
            f = &d->fields[i];
    }
    return f;
}

static bool is_json_body(const char *content_type)
{
    if (content_type == NULL)
        return true;
    size_t n = strcspn(content_type, "; ");
    return (n == 16 && strncasecmp(content_type, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(content_type + n - 5, "+json", 5) == 0);
}

static int pbj_refusal(gw_req *r, int rc, const char *err)
{
    (void)rc;
    return refuse(r, 400, "%s", err);
}

/* The same value, as the path gives it (text) and the tree holds it? */
static bool same_value(const json_t *have, const char *text)
{
    if (json_is_string(have))
        return strcmp(json_string_value(have), text) == 0;
    if (json_is_integer(have)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(have));
        return strcmp(buf, text) == 0;
    }
    return false;
}

static int add_path_params(gw_req *r, json_t *tree)
{
    for (size_t i = 0; gw_route_param(r->route, i) != NULL; i++) {
        const char *key = gw_route_param_json(r->route, i);
        const char *name = gw_route_param(r->route, i);
        json_t *have = json_object_get(tree, key);
        if (have == NULL)
            have = json_object_get(tree, name);
        if (have != NULL && !same_value(have, r->params[i]))
            return refuse(r, 400, "%s: the path says %s, the body something else", name,
                          r->params[i]);
        json_object_del(tree, name);
        json_object_set_new(tree, key, json_string(r->params[i]));
    }
    return 0;
}

static int add_key(gw_req *r, json_t *tree, const char *field)
{
    char key[NAME_LEN];
    pbj_json_name(field, key, sizeof key);
    json_t *have = json_object_get(tree, key);
    if (have == NULL)
        have = json_object_get(tree, field);
    if (r->idem_key != NULL) {
        if (have != NULL && !(json_is_string(have) &&
                              strcmp(json_string_value(have), r->idem_key) == 0))
            return refuse(r, 400, "%s: the Idempotency-Key header says %s, the body "
                          "something else", field, r->idem_key);
        json_object_del(tree, field);
        json_object_set_new(tree, key, json_string(r->idem_key));
        return 0;
    }
    if (have == NULL && (r->route->flags & GW_R_KEY_REQUIRED))
        return refuse(r, 400, "the Idempotency-Key header is required here (1..128 printable "
                      "ASCII; the same key again returns the first answer)");
    return 0;
}

/* Adds one query parameter "a.b=v" to tree: names in either spelling, a
 * repeated field's values gathered in an array, a bool's "true"/"false"
 * as JSON booleans; everything else as a string, which pbjson reads as
 * its field's type (integers, enums by name) or refuses naming it. */
static int add_query_arg(gw_req *r, json_t *tree, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return refuse(r, 400, "query parameter \"%s\" needs a name and a value (name=value)",
                      arg);
    char path[512];
    size_t n = (size_t)(eq - arg);
    if (n >= sizeof path)
        return refuse(r, 400, "query parameter name \"%.64s…\" is too long", arg);
    memcpy(path, arg, n);
    path[n] = '\0';
    const ProtobufCMessageDescriptor *d = r->route->rpc->request;
    const ProtobufCFieldDescriptor *f = NULL;
    json_t *obj = tree;
    char *save = NULL;
    for (char *seg = strtok_r(path, ".", &save); seg != NULL; seg = strtok_r(NULL, ".", &save)) {
        char key[NAME_LEN];
        pbj_json_name(seg, key, sizeof key);
        f = field_by_key(d, key);
        if (save == NULL || *save == '\0') { /* the last segment */
            json_t *v = json_string(eq + 1);
            if (v == NULL)
                return refuse(r, 400, "query parameter %s is not UTF-8", key);
            if (f != NULL && f->type == PROTOBUF_C_TYPE_BOOL &&
                (strcmp(eq + 1, "true") == 0 || strcmp(eq + 1, "false") == 0)) {
                json_decref(v);
                v = json_boolean(eq[1] == 't');
            }
            json_t *have = json_object_get(obj, key);
            bool is_repeated = f != NULL && f->label == PROTOBUF_C_LABEL_REPEATED;
            if (have != NULL && !json_is_array(have)) {
                json_decref(v);
                return refuse(r, 400, "query parameter %s given twice", arg);
            }
            if (is_repeated && have == NULL) {
                have = json_array();
                json_object_set_new(obj, key, have);
            }
            if (have != NULL)
                json_array_append_new(have, v);
            else
                json_object_set_new(obj, key, v);
            return 0;
        }
        json_t *next = json_object_get(obj, key);
        if (next == NULL) {
            next = json_object();
            json_object_set_new(obj, key, next);
        } else if (!json_is_object(next)) {
            return refuse(r, 400, "query parameter %s: %s is not a message", arg, seg);
        }
        obj = next;
        d = f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
    }
    return 0;
}

/* The body decoded into the message or field the route names; *tree gets
 * its JSON form when want_tree. */
static int decode_body(gw_req *r, const pbj_opts *o, ProtobufCAllocator *alloc,
                       ProtobufCMessage **out, bool want_tree, json_t **tree)
{
    const gw_route *rt = r->route;
    const ProtobufCMessageDescriptor *req = rt->rpc->request;
    const ProtobufCFieldDescriptor *bf = strcmp(rt->body, "*") == 0
                                             ? NULL
                                             : protobuf_c_message_descriptor_get_field_by_name(
                                                   req, rt->body);
    const ProtobufCMessageDescriptor *d = bf != NULL ? bf->descriptor : req;
    const char *text = r->body_len > 0 ? r->body : "{}";
    size_t len = r->body_len > 0 ? r->body_len : 2;
    char err[512];
    ProtobufCMessage *m = NULL;
    int rc = pbj_decode(d, text, len, o, alloc, &m, err, sizeof err);
    if (rc < 0) {
        if (bf != NULL && rc != PBJ_E_JSON)
            return refuse(r, 400, "%s.%s", bf->name, err);
        return pbj_refusal(r, rc, err);
    }
    if (want_tree) {
        json_t *j = NULL;
        if (pbj_encode(m, NULL, &j, err, sizeof err) < 0)
            return refuse(r, 400, "%s", err);
        if (bf != NULL) {
            char key[NAME_LEN];
            pbj_json_name(bf->name, key, sizeof key);
            *tree = json_object();
            json_object_set_new(*tree, key, j);
        } else {
            *tree = j;
        }
        return 0;
    }
    if (bf == NULL) {
        *out = m;
        return 0;
    }
    ProtobufCMessage *whole = alloc->alloc(alloc->allocator_data, req->sizeof_message);
    protobuf_c_message_init(req, whole);
    *(ProtobufCMessage **)((char *)whole + bf->offset) = m;
    *out = whole;
    return 0;
}

static void set_string(ProtobufCMessage *m, const char *name, const char *v)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    *(const char **)((char *)m + f->offset) = v;
}

/* The webhook's request: body, signature and content type as received (the
 * fields' types were checked at start by gw_routes_init). */
static int build_webhook(gw_req *r, ProtobufCAllocator *alloc, ProtobufCMessage **out)
{
    if (r->nargs > 0)
        return refuse(r, 400, "a webhook takes no query parameters");
    if (r->signature == NULL || r->signature[0] == '\0')
        return refuse(r, 400, "the Gavel-Signature header is missing");
    const ProtobufCMessageDescriptor *d = r->route->rpc->request;
    ProtobufCMessage *m = alloc->alloc(alloc->allocator_data, d->sizeof_message);
    protobuf_c_message_init(d, m);
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, "body");
    ProtobufCBinaryData *body = (ProtobufCBinaryData *)((char *)m + f->offset);
    body->data = (uint8_t *)r->body;
    body->len = r->body_len;
    set_string(m, "signature", r->signature);
    set_string(m, "content_type", r->content_type != NULL ? r->content_type : "");
    *out = m;
    return 0;
}

int gw_rest_build(gw_req *r, ProtobufCAllocator *alloc, ProtobufCMessage **out)
{
    const gw_route *rt = r->route;
    if (rt->flags & GW_R_WEBHOOK)
        return build_webhook(r, alloc, out);
    if (rt->body == NULL && r->body_len > 0)
        return refuse(r, 400, "%s %s takes no request body", gw_method_name(r->method),
                      rt->path);
    if (rt->body != NULL && r->nargs > 0)
        return refuse(r, 400, "%s %s takes its fields in the JSON body, not the query string",
                      gw_method_name(r->method), rt->path);
    if (rt->body != NULL && r->body_len > 0 && !is_json_body(r->content_type))
        return refuse(r, 415, "the body must be JSON (Content-Type: application/json), not "
                      "%s", r->content_type);
    pbj_opts o = { 0 };
    bool has_extra = gw_route_param(rt, 0) != NULL || r->nargs > 0 || rt->idem_field != NULL;
    if (rt->body != NULL && !has_extra)
        return decode_body(r, &o, alloc, out, false, NULL);
    json_t *tree = NULL;
    int rc = 0;
    if (rt->body != NULL)
        rc = decode_body(r, &o, alloc, out, true, &tree);
    else
        tree = json_object();
    if (rc != 0)
        goto out;
    if ((rc = add_path_params(r, tree)) != 0)
        goto out;
    for (size_t i = 0; i < r->nargs && rc == 0; i++)
        rc = add_query_arg(r, tree, r->args[i]);
    if (rc == 0 && rt->idem_field != NULL)
        rc = add_key(r, tree, rt->idem_field);
    if (rc != 0)
        goto out;
    char err[512];
    int prc = pbj_decode_json(rt->rpc->request, tree, &o, alloc, out, err, sizeof err);
    if (prc < 0)
        rc = pbj_refusal(r, prc, err);
out:
    json_decref(tree);
    return rc;
}
