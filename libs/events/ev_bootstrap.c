/*
 * ev_bootstrap: where a daemon finds Kafka. GAVEL_KAFKA_BOOTSTRAP wins;
 * otherwise the first line of the file the dev broker writes
 * (GAVEL_KAFKA_BOOTSTRAP_FILE, default .run/kafka.bootstrap). The broker
 * writes that file with a rename, so a reader sees a whole line or none.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "events/events_int.h"

/* Trims surrounding white space in place; returns s. */
static char *trim(char *s)
{
    size_t n;

    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

char *ev_bootstrap(void)
{
    ev__settings set;
    char line[1024], *s, err[256];
    char *out = NULL;
    FILE *f;

    if (ev__settings_get(&set, err, sizeof err) < 0) {
        log_error("events: %s", err);
        return NULL;
    }
    if (set.bootstrap[0] != '\0')
        return xstrdup(set.bootstrap);
    if ((f = fopen(set.bootstrap_file, "r")) == NULL)
        return NULL;
    if (fgets(line, sizeof line, f) != NULL) {
        s = trim(line);
        if (s[0] != '\0')
            out = xstrdup(s);
    }
    fclose(f);
    return out;
}

ev_producer *ev_producer_start(const char *source)
{
    char *bootstrap = ev_bootstrap();
    if (bootstrap == NULL) {
        log_error("no Kafka bootstrap: set GAVEL_KAFKA_BOOTSTRAP or GAVEL_KAFKA_BOOTSTRAP_FILE");
        return NULL;
    }
    ev_set_source(source);
    char err[256];
    ev_producer *p = ev_producer_new(bootstrap, err, sizeof err);
    if (p == NULL)
        log_error("kafka producer: %s", err);
    free(bootstrap);
    return p;
}
