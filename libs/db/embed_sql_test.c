/*
 * embed_sql_test: libs/db/embed_sql.sh end to end — its output compiles
 * with the project's warnings as errors, and a program linked with it sees
 * each migration's version, file name and SQL byte for byte, including
 * backslashes, quotes, trigraph look-alikes, CR, tabs, UTF-8, an empty
 * file and a last line without a newline. An empty or missing directory
 * gives an empty table; bad file names fail with a message instead.
 *
 * The script is found from GAVEL_SRC_DIR, else from this file's path as
 * the compiler saw it (the Makefile compiles from the top of the tree),
 * so run the test from the top directory or set GAVEL_SRC_DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SELF "libs/db/embed_sql_test.c"

static char root[512];
static char tmp[256];

static const char init_sql[] =
    "-- a comment with 'quotes' and \"double quotes\"\n"
    "CREATE TABLE t (a text DEFAULT E'tab\\there\\\\', b text);\n"
    "\tINSERT INTO t VALUES ('%s %d %n', '?\?= ?\?/ ?\?( */ /*');\r\n"
    "SELECT 'h\xc3\xa9llo \xe2\x82\xac' AS \"weird\"\"name\";\n"
    "#include <stdio.h>\n"
    "SELECT 1 \\\n"
    "\n";
static const char noeol_sql[] = "SELECT 2;";

static void write_file(const char *dir, const char *name, const char *data)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole file into a new NUL-terminated buffer; caller frees. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs embed_sql.sh svc dir > out; returns its exit status. */
static int embed(const char *svc, const char *dir, const char *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "sh '%s/libs/db/embed_sql.sh' '%s' '%s' > '%s' 2> '%s/err'",
             root, svc, dir, out, tmp);
    return run(cmd);
}

static int setup(void **state)
{
    const char *env = getenv("GAVEL_SRC_DIR");
    const char *file = __FILE__;
    size_t n = strlen(file);

    (void)state;
    if (env && *env)
        snprintf(root, sizeof root, "%s", env);
    else if (n >= strlen(SELF) && strcmp(file + n - strlen(SELF), SELF) == 0)
        snprintf(root, sizeof root, "%.*s", (int)(n - strlen(SELF)), file);
    if (!root[0])
        snprintf(root, sizeof root, ".");
    snprintf(tmp, sizeof tmp, "/tmp/embed_sql_test.XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return run(cmd) == 0 ? 0 : -1;
}

static const char driver_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include \"db/db.h\"\n"
    "extern const db_migration fix_migrations[];\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "    (void)argc;\n"
    "    for (const db_migration *m = fix_migrations; m->version; m++) {\n"
    "        char path[512];\n"
    "        snprintf(path, sizeof path, \"%s/got_%d\", argv[1], m->version);\n"
    "        FILE *f = fopen(path, \"wb\");\n"
    "        if (!f || fwrite(m->sql, 1, strlen(m->sql), f) != strlen(m->sql))\n"
    "            return 1;\n"
    "        fclose(f);\n"
    "        printf(\"%d %s\\n\", m->version, m->name);\n"
    "    }\n"
    "    return 0;\n"
    "}\n";

/* Compiles gen.c with the driver and runs it; returns its listing. */
static char *compile_and_list(void)
{
    const char *cc = getenv("CC");
    char cmd[2048];
    char path[512];

    write_file(tmp, "driver.c", driver_c);
    snprintf(cmd, sizeof cmd,
             "%s -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -I'%s/libs'"
             " $(pkg-config --cflags libpq) -o '%s/drv' '%s/driver.c' '%s/gen.c'",
             cc && *cc ? cc : "cc", root, tmp, tmp, tmp);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s/drv' '%s' > '%s/listing'", tmp, tmp, tmp);
    assert_int_equal(run(cmd), 0);
    snprintf(path, sizeof path, "%s/listing", tmp);
    return read_file(path);
}

static void expect_sql(int version, const char *want)
{
    char path[512];
    snprintf(path, sizeof path, "%s/got_%d", tmp, version);
    char *got = read_file(path);
    assert_string_equal(got, want);
    free(got);
}

static void test_output_compiles_and_keeps_sql_byte_for_byte(void **state)
{
    char dir[512], out[512];

    (void)state;
    snprintf(dir, sizeof dir, "%s/mig", tmp);
    snprintf(out, sizeof out, "%s/gen.c", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file(dir, "001_init.sql", init_sql);
    write_file(dir, "002_empty.sql", "");
    write_file(dir, "010_no-eol.sql", noeol_sql);
    write_file(dir, "README", "not a migration");
    assert_int_equal(embed("fix", dir, out), 0);
    char *gen = read_file(out);
    assert_true(strncmp(gen, "/* generated by libs/db/embed_sql.sh, do not edit */\n",
                        53) == 0);
    assert_non_null(strstr(gen, "#include \"db/db.h\""));
    free(gen);

    char *listing = compile_and_list();
    assert_string_equal(listing, "1 001_init.sql\n2 002_empty.sql\n10 010_no-eol.sql\n");
    free(listing);
    expect_sql(1, init_sql);
    expect_sql(2, "");
    expect_sql(10, noeol_sql);
}

static void test_empty_or_missing_directory_gives_an_empty_table(void **state)
{
    char dir[512], out[512];

    (void)state;
    snprintf(dir, sizeof dir, "%s/none", tmp);
    snprintf(out, sizeof out, "%s/gen.c", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file(dir, "notes.txt", "not a migration");
    assert_int_equal(embed("fix", dir, out), 0);
    char *listing = compile_and_list();
    assert_string_equal(listing, "");
    free(listing);

    /* Git keeps no empty directory: a daemon without SQL has none at all. */
    snprintf(dir, sizeof dir, "%s/absent", tmp);
    assert_int_equal(embed("fix", dir, out), 0);
    listing = compile_and_list();
    assert_string_equal(listing, "");
    free(listing);
}

static void test_bad_input_fails_with_a_message(void **state)
{
    static const struct {
        const char *name;
        const char *svc;
        const char *files[3];
        const char *want_err;
    } cases[] = {
        { .name = "no number", .svc = "fix", .files = { "init.sql" },
          .want_err = "init.sql: name must be NNN_name.sql" },
        { .name = "duplicate version", .svc = "fix",
          .files = { "001_a.sql", "001_b.sql" }, .want_err = "does not follow 1" },
        { .name = "version zero", .svc = "fix", .files = { "000_a.sql" },
          .want_err = "version 0 is reserved" },
        { .name = "unpadded numbers out of name order", .svc = "fix",
          .files = { "9_a.sql", "10_b.sql" }, .want_err = "zero-pad" },
        { .name = "space in name", .svc = "fix", .files = { "001_a b.sql" },
          .want_err = "use only letters" },
        { .name = "service not an identifier", .svc = "9lives",
          .files = { "001_a.sql" }, .want_err = "not a C identifier" },
    };
    char errpath[512], out[512];

    (void)state;
    snprintf(errpath, sizeof errpath, "%s/err", tmp);
    snprintf(out, sizeof out, "%s/bad.c", tmp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/bad%zu", tmp, i);
        assert_int_equal(mkdir(dir, 0700), 0);
        for (int f = 0; f < 3 && cases[i].files[f]; f++)
            write_file(dir, cases[i].files[f], "SELECT 1;\n");
        int rc = embed(cases[i].svc, dir, out);
        char *err = read_file(errpath);
        if (rc != 1 || !strstr(err, cases[i].want_err))
            fail_msg("%s: exit %d, stderr \"%s\"", cases[i].name, rc, err);
        free(err);
    }
    char file[512];
    snprintf(file, sizeof file, "%s/err", tmp);
    assert_int_equal(embed("fix", file, out), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_output_compiles_and_keeps_sql_byte_for_byte,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_or_missing_directory_gives_an_empty_table,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_fails_with_a_message, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
