/*
 * core_int.h: what core's modules share with each other and with their own
 * unit tests, never included outside libs/core.
 */
#ifndef GAVEL_CORE_INT_H
#define GAVEL_CORE_INT_H

#include <stddef.h>

/**
 * Returns the length (1..4) of the well-formed UTF-8 sequence at s[0..n),
 * or 0 when s starts with an ill-formed, truncated or NUL sequence.
 * n must be at least 1.
 */
size_t core__utf8_seqlen(const unsigned char *s, size_t n);

#endif
