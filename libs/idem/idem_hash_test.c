/*
 * The request hash: hex SHA-256, the same for a message and for its
 * encoding, whether the message is packed on the stack or the heap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"
#include "idem/idem.h"
#include "gavel/common/v1/common.pb-c.h"

static void bytes_hash_to_lower_case_hex_sha256(void **state)
{
    (void)state;
    static const struct { const char *in; const char *want; } cases[] = {
        { .in = "", .want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { .in = "abc",
          .want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[IDEM_HASH_HEX];
        idem_hash(cases[i].in, strlen(cases[i].in), hex);
        assert_string_equal(hex, cases[i].want);
    }
}

static void a_message_hashes_as_its_encoding_small_or_large(void **state)
{
    (void)state;
    static char big[3000];
    memset(big, 'R', sizeof big - 1);
    static const struct { const char *currency; int64_t units; } cases[] = {
        { .currency = "RUB", .units = 100 },     /* packed on the stack */
        { .currency = "", .units = 0 },          /* encodes to nothing */
        { .currency = big, .units = -1 },        /* over 1 KiB: packed on the heap */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Gavel__Common__V1__Money m = GAVEL__COMMON__V1__MONEY__INIT;
        m.currency = (char *)cases[i].currency;
        m.units = cases[i].units;
        size_t n = protobuf_c_message_get_packed_size(&m.base);
        uint8_t *buf = xmalloc(n + 1);
        protobuf_c_message_pack(&m.base, buf);
        char want[IDEM_HASH_HEX], got[IDEM_HASH_HEX];
        idem_hash(buf, n, want);
        free(buf);
        idem_request_hash(&m.base, got);
        assert_string_equal(got, want);
    }
    Gavel__Common__V1__Money a = GAVEL__COMMON__V1__MONEY__INIT, b = a;
    a.currency = b.currency = (char *)"RUB";
    a.units = 1;
    b.units = 2;
    char ha[IDEM_HASH_HEX], hb[IDEM_HASH_HEX];
    idem_request_hash(&a.base, ha);
    idem_request_hash(&b.base, hb);
    assert_string_not_equal(ha, hb);
}

int main(void)
{
    log_init("idem-test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_hash_to_lower_case_hex_sha256),
        cmocka_unit_test(a_message_hashes_as_its_encoding_small_or_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
