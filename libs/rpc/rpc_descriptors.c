/*
 * Method tables and declared calls checked against protoc-c's service
 * descriptors. A row says "/pkg.Service/Method" and names its request and
 * response descriptors by hand; the generated service descriptor knows the
 * truth. A row that names another service's method, a method that does not
 * exist or a wrong descriptor pair compiles (every descriptor has the same
 * C type), so the skeleton refuses it at start-up instead, naming the row.
 * The same descriptors give health its service names: one list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "rpc/rpc_skel_int.h"
#include "grpc/health/v1/health.pb-c.h"

/* Splits "/pkg.Service/Method": *svc_len bytes of service at name + 1, the
 * method after the second slash. False when the shape is wrong. */
static bool split_name(const char *name, size_t *svc_len, const char **method)
{
    if (name == NULL || name[0] != '/')
        return false;
    const char *slash = strchr(name + 1, '/');
    if (slash == NULL || slash == name + 1 || slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
        return false;
    *svc_len = (size_t)(slash - name - 1);
    *method = slash + 1;
    return true;
}

static bool names_service(const ProtobufCServiceDescriptor *d, const char *name, size_t len)
{
    return strlen(d->name) == len && strncmp(d->name, name, len) == 0;
}

/*
 * Checks that `name` is a method of d taking `req` and giving `resp`.
 * `what` starts the message ("method table row", "client method").
 */
static int check_pair(const char *what, const char *name, const ProtobufCServiceDescriptor *d,
                      const ProtobufCMessageDescriptor *req,
                      const ProtobufCMessageDescriptor *resp, char *err, size_t errlen)
{
    size_t svc_len;
    const char *method;
    if (!split_name(name, &svc_len, &method)) {
        snprintf(err, errlen, "%s \"%s\": not a /package.Service/Method name", what,
                 name != NULL ? name : "(null)");
        return -1;
    }
    if (d == NULL) {
        snprintf(err, errlen, "%s %s: service %.*s is not among the service descriptors the "
                 "daemon lists", what, name, (int)svc_len, name + 1);
        return -1;
    }
    if (!names_service(d, name + 1, svc_len)) {
        snprintf(err, errlen, "%s %s: its service descriptor is %s", what, name, d->name);
        return -1;
    }
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(d,
                                                                                         method);
    if (md == NULL) {
        snprintf(err, errlen, "%s %s: service %s has no method %s", what, name, d->name, method);
        return -1;
    }
    if (req != md->input) {
        snprintf(err, errlen, "%s %s: request is %s, the service descriptor says %s", what, name,
                 req != NULL ? req->name : "(none)", md->input->name);
        return -1;
    }
    if (resp != md->output) {
        snprintf(err, errlen, "%s %s: response is %s, the service descriptor says %s", what,
                 name, resp != NULL ? resp->name : "(none)", md->output->name);
        return -1;
    }
    return 0;
}

int rpc_client_method_check(const rpc_client_method *m, char *err, size_t errlen)
{
    return check_pair("client method", m->name, m->service, m->request, m->response, err,
                      errlen);
}

/* The descriptor among svc's (and the built-in health service) whose name
 * is the service part of a row's name; NULL when none. */
static const ProtobufCServiceDescriptor *find_service(const rpc_service *svc, const char *name)
{
    size_t len;
    const char *method;
    if (!split_name(name, &len, &method))
        return NULL;
    if (names_service(&grpc__health__v1__health__descriptor, name + 1, len))
        return &grpc__health__v1__health__descriptor;
    for (const ProtobufCServiceDescriptor *const *d = svc->descriptors; d != NULL && *d != NULL;
         d++)
        if (names_service(*d, name + 1, len))
            return *d;
    return NULL;
}

static int check_row(const rpc_service *svc, const rpc_method *m, char *err, size_t errlen)
{
    return check_pair("method table row", m->name, find_service(svc, m->name), m->request,
                      m->response, err, errlen);
}

/* Refuses a method that two rows (in any of the tables) register. */
static int check_twice(const rpc_service *svc, const rpc_method *m, const rpc_method *const *t,
                       char *err, size_t errlen)
{
    for (const rpc_method *o = m + 1; o->name != NULL; o++)
        if (strcmp(o->name, m->name) == 0)
            goto twice;
    for (t++; *t != NULL; t++)
        for (const rpc_method *o = *t; o->name != NULL; o++)
            if (strcmp(o->name, m->name) == 0)
                goto twice;
    return 0;
twice:
    snprintf(err, errlen, "method table row %s: listed twice in the %s daemon's tables",
             m->name, svc->name);
    return -1;
}

int rpc_service_check(const rpc_service *svc, char *err, size_t errlen)
{
    for (const rpc_method *m = rpc__health_methods; m->name != NULL; m++)
        if (check_row(svc, m, err, errlen) < 0)
            return -1;
    for (const rpc_method *const *t = svc->tables; t != NULL && *t != NULL; t++)
        for (const rpc_method *m = *t; m->name != NULL; m++)
            if (check_row(svc, m, err, errlen) < 0 || check_twice(svc, m, t, err, errlen) < 0)
                return -1;
    for (const rpc_client_method *const *c = svc->calls; c != NULL && *c != NULL; c++)
        if (rpc_client_method_check(*c, err, errlen) < 0)
            return -1;
    return 0;
}

const char **rpc__service_names(const rpc_service *svc)
{
    size_t n = 0;
    const char **names;
    if (svc->descriptors == NULL) {
        while (svc->services != NULL && svc->services[n] != NULL)
            n++;
        names = xcalloc(n + 1, sizeof *names);
        for (size_t i = 0; i < n; i++)
            names[i] = svc->services[i];
        return names;
    }
    while (svc->descriptors[n] != NULL)
        n++;
    names = xcalloc(n + 1, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = svc->descriptors[i]->name;
    return names;
}
