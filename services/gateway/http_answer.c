/*
 * Answer bodies. Each is JSON dumped straight into memory of the
 * request's arena with GW_HDR_ROOM + LWS_PRE bytes free in front, so the
 * headers go in front of it and the whole answer leaves in one write.
 * Errors are {"error":{"code","message","request_id"}}, code being the
 * gRPC status word (or an HTTP one for what never reached a service).
 * Any thread that holds the request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "request.h"

#define FIRST_GUESS 4096

unsigned char *gw_answer_alloc(gw_req *r, size_t n)
{
    unsigned char *buf = arena_alloc(r->a, LWS_PRE + GW_HDR_ROOM + n + 1);
    return buf + LWS_PRE + GW_HDR_ROOM;
}

void gw_answer_json(gw_req *r, int status, const json_t *body)
{
    size_t cap = FIRST_GUESS;
    unsigned char *out = gw_answer_alloc(r, cap);
    size_t n = json_dumpb(body, (char *)out, cap, JSON_COMPACT);
    if (n > cap) {
        cap = n;
        out = gw_answer_alloc(r, cap);
        n = json_dumpb(body, (char *)out, cap, JSON_COMPACT);
    }
    if (n == 0 || n > cap) {
        gw_answer_error(r, 500, "internal", "the answer could not be written as JSON");
        return;
    }
    r->status = status;
    r->out = out;
    r->out_len = n;
}

void gw_answer_error(gw_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", msg,
                             "request_id", r->request_id);
    if (body == NULL) { /* the message was not UTF-8 */
        body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message",
                         "(the message was not valid UTF-8)", "request_id", r->request_id);
    }
    size_t cap = strlen(msg) * 6 + 256;
    unsigned char *out = gw_answer_alloc(r, cap);
    size_t n = body != NULL ? json_dumpb(body, (char *)out, cap, JSON_COMPACT) : 0;
    json_decref(body);
    if (n == 0 || n > cap) {
        static const char fallback[] = "{\"error\":{\"code\":\"internal\"}}";
        n = sizeof fallback - 1;
        memcpy(out, fallback, n);
    }
    r->status = status;
    r->out = out;
    r->out_len = n;
}

void gw_answer_grpc(gw_req *r, int grpc_code, const char *message)
{
    if (gw_is_insufficient_funds(grpc_code, message)) {
        gw_answer_error(r, 402, "insufficient_funds", "%s", message);
        return;
    }
    gw_answer_error(r, gw_http_status(grpc_code), gw_grpc_code_name(grpc_code), "%s",
                    message != NULL && message[0] != '\0' ? message
                                                          : gw_grpc_code_name(grpc_code));
}
