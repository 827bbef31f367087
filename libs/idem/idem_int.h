/*
 * idem_int.h: what idem's files share; never included outside libs/idem.
 */
#ifndef GAVEL_IDEM_INT_H
#define GAVEL_IDEM_INT_H

#include <stdint.h>

#include "core/core.h"
#include "idem/idem.h"

/** The answer in column col of row `row` of r, a result in binary format,
 *  unpacked into c's arena; NULL when it is SQL NULL or not a d. */
ProtobufCMessage *idem__answer(rpc_call *c, const ProtobufCMessageDescriptor *d,
                               const PGresult *r, int row, int col);
/** m packed into a new buffer (caller frees with free()); *len its size. */
uint8_t *idem__pack(const ProtobufCMessage *m, size_t *len);

#endif
