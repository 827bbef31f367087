/*
 * The first admin. `make run` writes generated credentials to a file
 * (GAVEL_BOOTSTRAP_ADMIN_FILE); at start-up the daemon creates that admin
 * if no account has the email yet. Concurrent replicas race harmlessly on
 * the unique email index.
 */
#include <stdio.h>
#include <string.h>

#include "users.h"

/* Reads KEY=VALUE lines; copies the values of the two keys we need. */
static int read_admin_file(const char *path, char *email, size_t elen, char *pw, size_t plen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        log_error("cannot read admin credentials %s", path);
        return -1;
    }
    char line[512];
    email[0] = pw[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "GAVEL_ADMIN_EMAIL=", 18) == 0)
            snprintf(email, elen, "%s", line + 18);
        else if (strncmp(line, "GAVEL_ADMIN_PASSWORD=", 21) == 0)
            snprintf(pw, plen, "%s", line + 21);
    }
    fclose(f);
    if (email[0] == '\0' || password_policy(pw) != NULL) {
        log_error("%s must set GAVEL_ADMIN_EMAIL and a GAVEL_ADMIN_PASSWORD that meets the "
                  "password policy", path);
        return -1;
    }
    return 0;
}

int bootstrap_admin(void)
{
    if (users.admin_file[0] == '\0')
        return 0;
    char email[512], pw[512], hash[160];
    if (read_admin_file(users.admin_file, email, sizeof email, pw, sizeof pw) < 0)
        return -1;
    db_conn *conn = db_pool_get(users.db, 5000);
    if (conn == NULL)
        return -1;
    const char *p[] = { email };
    int rc = 0;
    PGresult *r = db_exec(conn, "user_by_email", 1, p, &rc);
    bool exists = r != NULL && PQntuples(r) == 1;
    if (r != NULL)
        PQclear(r);
    int64_t id = 0;
    if (rc == 0 && !exists) {
        if (password_hash(pw, hash, sizeof hash) < 0)
            rc = -1;
        else
            rc = account_insert(conn, email, hash, "admin", "Administrator", "", "", "", &id);
        if (rc == DB_E_UNIQUE)
            rc = 0; /* another replica was first */
        if (rc == 0 && id > 0)
            log_info("created admin account %s (user %lld)", email, (long long)id);
    }
    db_pool_put(users.db, conn);
    explicit_bzero(pw, sizeof pw);
    return rc < 0 ? -1 : 0;
}
