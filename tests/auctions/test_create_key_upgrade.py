"""Upgrading an auctions database to migration 4, which moved CreateLot's
idempotency keys from create_keys into the table of libs/idem (idem_keys):
a retry across the upgrade still gets the lot its key created, another lot
under the key is still refused naming that lot, and nothing is created."""
import hashlib
import os
import re
import struct

import grpc
import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import auctions_pb2 as apb, auctions_pb2_grpc, common_pb2, users_pb2

MIGRATIONS = os.path.join(h.ROOT, "services", "auctions", "migrations")
LATEST = max(int(name[:3]) for name in os.listdir(MIGRATIONS) if name.endswith(".sql"))
DB = "gavel_auctions_upgrade"
RECORDS = ("CREATE TABLE IF NOT EXISTS gavel_migrations (component text NOT NULL, "
           "version int NOT NULL, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))")
# Lot ids whose varints take 1, 1, 2, 2, 3 and 6 bytes in the stored answer.
LOT_IDS = (1, 127, 128, 300, 2 ** 14, 2 ** 35 + 7)


def with_dbname(dsn, name):
    return re.sub(r"dbname=\S+", "dbname=" + name, dsn)



@pytest.fixture
def db_at_migration_3(auctions):
    """A new auctions database with migrations 1 to 3 applied and recorded,
    as the release before migration 4 left it: (dsn, connection)."""
    dsn = with_dbname(auctions.env["GAVEL_PG_DSN"], DB)
    admin = psycopg2.connect(with_dbname(dsn, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
        cur.execute("CREATE DATABASE %s" % DB)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(RECORDS)
        for name in sorted(os.listdir(MIGRATIONS)):
            version = int(name[:3])
            if version > 3:
                continue
            with open(os.path.join(MIGRATIONS, name)) as f:
                cur.execute(f.read())
            cur.execute("INSERT INTO gavel_migrations (component, version, name) "
                        "VALUES ('auctions', %s, %s)", (version, name))
    try:
        yield dsn, conn
    finally:
        conn.close()
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
        admin.close()


@pytest.fixture
def spare_auctions(stack, auctions):
    """spare_auctions(**env): another gavel-auctions with the session
    daemon's environment plus env, on free ports; stopped at the end, its
    log free of sanitizer reports."""
    spares = h.Spares(stack)
    yield lambda **env: spares.start("auctions", "upgrade", auctions.env, **env)
    spares.stop_all()


def rows(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def old_request_hash(lot, seller_id):
    """How CreateLot has always hashed its request: the checked lot, then
    the seller's id in 8 bytes (little-endian on the machines we run)."""
    return hashlib.sha256(lot.SerializeToString() + struct.pack("<q", seller_id)).hexdigest()


def test_migration_4_moves_create_keys_and_retries_still_get_their_lots(
        db_at_migration_3, spare_auctions, users_stub):
    dsn, conn = db_at_migration_3
    seller = h.register(users_stub, users_pb2.ROLE_SELLER)
    keys = {}
    for lot_id in LOT_IDS:
        lot = apb.Lot(title="Upgraded car %d" % lot_id,
                      start_price=common_pb2.Money(currency="RUB", units=100000))
        rows(conn, "INSERT INTO lots (id, seller_id, state, title, currency, start_price, "
                   "created_at_us, updated_at_us) VALUES (%s, %s, 'draft', %s, 'RUB', 100000, "
                   "1, 1) RETURNING id", lot_id, seller.id, lot.title)
        key = h.idem()
        rows(conn, "INSERT INTO create_keys (caller_id, key, digest, lot_id, at_us) "
                   "VALUES (%s, %s, decode(%s, 'hex'), %s, 1700000000000000) RETURNING 1",
             seller.id, key, old_request_hash(lot, seller.id), lot_id)
        keys[lot_id] = (key, lot)

    d = spare_auctions(GAVEL_PG_DSN=dsn)
    assert rows(conn, "SELECT max(version) FROM gavel_migrations "
                      "WHERE component = 'auctions'") == [(LATEST,)]
    assert rows(conn, "SELECT to_regclass('create_keys') IS NULL") == [(True,)]
    moved = {r[1]: r for r in rows(conn, "SELECT scope, key, caller, request_hash, response, "
                                         "created_at FROM idem_keys")}
    assert len(moved) == len(LOT_IDS)
    for lot_id, (key, lot) in keys.items():
        scope, _, caller, request_hash, response, created_at = moved[key]
        assert (scope, caller, request_hash) == ("CreateLot", str(seller.id),
                                                 old_request_hash(lot, seller.id))
        assert bytes(response) == apb.CreateLotResponse(
            lot=apb.Lot(id=lot_id)).SerializeToString(), "lot %d" % lot_id
        assert created_at.timestamp() == 1700000000

    stub = auctions_pb2_grpc.AuctionsStub(d.channel)
    for lot_id, (key, lot) in keys.items():
        got = h.call(stub.CreateLot, apb.CreateLotRequest(idempotency_key=key, lot=lot),
                     seller.md).lot
        assert (got.id, got.title, got.seller_id) == (lot_id, lot.title, seller.id)
    key, lot = keys[300]
    other = apb.Lot()
    other.CopyFrom(lot)
    other.title = "Another car"
    e = h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, stub.CreateLot,
                       apb.CreateLotRequest(idempotency_key=key, lot=other), seller.md)
    assert e.details() == "idempotency_key was already used for a different lot (300)"
    assert rows(conn, "SELECT count(*) FROM lots") == [(len(LOT_IDS),)]
