/*
 * Search page tokens: where the previous page ended (its last hit's sort
 * keys and id), how many hits were served, and 8 bytes of SHA-256 over the
 * query, filter and sort, so a token from another request is refused.
 * Text form: "s1.<k1>.<k2>.<lot_id>.<served>.<16 hex>".
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "search.h"

void search_request_digest(const Gavel__Search__V1__SearchRequest *req, uint8_t out[16])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char sort[16];
    snprintf(sort, sizeof sort, "%d", (int)req->sort);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, req->query, strlen(req->query) + 1) != 1 ||
        EVP_DigestUpdate(ctx, req->filter_json, strlen(req->filter_json) + 1) != 1 ||
        EVP_DigestUpdate(ctx, sort, strlen(sort) + 1) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 16)
        panic("search: SHA-256 failed");
    EVP_MD_CTX_free(ctx);
    memcpy(out, md, 16);
}

static void hex8(const uint8_t d[16], char out[17])
{
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void search_token_encode(const search_pos *pos, const uint8_t digest[16], char *out)
{
    char h[17];
    hex8(digest, h);
    snprintf(out, SEARCH_TOKEN_MAX, "s1.%" PRId64 ".%" PRId64 ".%" PRId64 ".%" PRId64 ".%s",
             pos->k1, pos->k2, pos->lot_id, pos->served, h);
}

int search_token_decode(const char *tok, const uint8_t digest[16], search_pos *pos)
{
    char h[17], want[17];
    int used = 0;
    if (strlen(tok) >= SEARCH_TOKEN_MAX)
        return -1;
    if (sscanf(tok, "s1.%" SCNd64 ".%" SCNd64 ".%" SCNd64 ".%" SCNd64 ".%16[0-9a-f]%n",
               &pos->k1, &pos->k2, &pos->lot_id, &pos->served, h, &used) != 5 ||
        tok[used] != '\0' || strlen(h) != 16 || pos->served < 0 || pos->lot_id < 0)
        return -1;
    hex8(digest, want);
    return strcmp(h, want) == 0 ? 0 : -1;
}
