-- CreateLot's idempotency keys move to the table of libs/idem (idem_keys,
-- created by its migration 1, which the daemon applies before these),
-- which keeps every service's keys the same way: scope 'CreateLot', the
-- caller as its token's subject (the user id as text), the request hash
-- as hex, and as the stored answer a CreateLotResponse naming the lot by
-- its id (a replay reads the lot as it is now, as it always has). So a
-- retry across the upgrade still gets its lot, and another lot under the
-- key is still refused.
--
-- The answer is protobuf: 0x0a, the length of the Lot, then the Lot, whose
-- only field is id (0x08, then the id as a varint: 7 bits a byte, lowest
-- first, the high bit set on every byte but the last).
INSERT INTO idem_keys (scope, caller, key, request_hash, response, created_at)
    SELECT 'CreateLot', k.caller_id::text, k.key, encode(k.digest, 'hex'),
           '\x0a'::bytea || set_byte('\x00'::bytea, 0, 1 + length(v.id)) || '\x08'::bytea
               || v.id,
           to_timestamp(k.at_us / 1000000.0)
    FROM create_keys k
    CROSS JOIN LATERAL (
        SELECT string_agg(set_byte('\x00'::bytea, 0,
                                   (((k.lot_id >> (7 * i)) & 127)
                                    | CASE WHEN k.lot_id >> (7 * (i + 1)) > 0 THEN 128 ELSE 0 END)::int),
                          ''::bytea ORDER BY i) AS id
        FROM generate_series(0, 8) AS i
        WHERE i = 0 OR k.lot_id >> (7 * i) > 0) v;
DROP TABLE create_keys;
