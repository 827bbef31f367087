"""Upgrading a users database across the migrations that changed where
idempotency keys live: migration 6 scoped keys to their caller (the keys
stored before it stay, under a caller no token subject can be, so no call
matches them again; docs/operations.md: a retry that crosses that upgrade
runs as a new call), and migration 7 moved every key into the table of
libs/idem (idem_keys), where a stored answer still replays byte for byte."""
import hashlib
import os
import re

import grpc
import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import users_pb2, users_pb2_grpc

MIGRATIONS = os.path.join(h.ROOT, "services", "users", "migrations")
LATEST = max(int(name[:3]) for name in os.listdir(MIGRATIONS) if name.endswith(".sql"))
DB = "gavel_users_upgrade"
# What libs/db/db_migrate.c creates to record applied migrations.
RECORDS = ("CREATE TABLE IF NOT EXISTS gavel_migrations (component text NOT NULL, "
           "version int NOT NULL, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))")


def with_dbname(dsn, name):
    return re.sub(r"dbname=\S+", "dbname=" + name, dsn)


@pytest.fixture
def db_at_migration(users):
    """db_at_migration(n): a new users database with migrations 1 to n
    applied and recorded, as the release before migration n + 1 left it:
    (dsn, connection)."""
    dsn = with_dbname(users.env["GAVEL_PG_DSN"], DB)
    admin = psycopg2.connect(with_dbname(dsn, "postgres"))
    admin.autocommit = True
    opened = []

    def at(last):
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
            cur.execute("CREATE DATABASE %s" % DB)
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        opened.append(conn)
        with conn.cursor() as cur:
            cur.execute(RECORDS)
            for name in sorted(os.listdir(MIGRATIONS)):
                version = int(name[:3])
                if version > last:
                    continue
                with open(os.path.join(MIGRATIONS, name)) as f:
                    cur.execute(f.read())
                cur.execute("INSERT INTO gavel_migrations (component, version, name) "
                            "VALUES ('users', %s, %s)", (version, name))
        return dsn, conn
    try:
        yield at
    finally:
        for conn in opened:
            conn.close()
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
        admin.close()


def rows(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def primary_key(conn, table):
    return [r[0] for r in rows(
        conn, "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
              "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
              "WHERE i.indrelid = %s::regclass AND i.indisprimary "
              "ORDER BY array_position(i.indkey::int2[], a.attnum)", table)]


def test_migration_6_keeps_earlier_keys_but_no_caller_matches_them(db_at_migration,
                                                                   spare_users, service_md):
    dsn, conn = db_at_migration(5)
    key = h.idem()
    rows(conn, "INSERT INTO idempotency_keys (method, key, request_hash, response) "
               "VALUES ('Deposit', %s, %s, '\\x0801') RETURNING 1", key, "0" * 64)
    d = spare_users("upgrade", GAVEL_PG_DSN=dsn)
    try:
        assert rows(conn, "SELECT max(version) FROM gavel_migrations "
                          "WHERE component = 'users'") == [(LATEST,)]
        (legacy,) = rows(conn, "SELECT scope, caller, key, request_hash FROM idem_keys")
        assert (legacy[0], legacy[2], legacy[3]) == ("Deposit", key, "0" * 64)
        assert len(legacy[1].encode()) > 63, "a token subject (at most 63 bytes) could match"
        assert primary_key(conn, "idem_keys") == ["scope", "caller", "key"]

        # The same key after the upgrade is a new call of its caller (before,
        # another request under it was FAILED_PRECONDITION), and from then on
        # it replays as usual.
        a = h.register(users_pb2_grpc.UsersStub(d.channel), login=False)
        wallet = users_pb2_grpc.WalletStub(d.channel)
        req = users_pb2.DepositRequest(idempotency_key=key, user_id=a.id, amount=h.rub(100))
        first = h.call(wallet.Deposit, req, service_md)
        assert h.balance_tuple(first.balance) == (100, 0, 100)
        assert h.call(wallet.Deposit, req, service_md) == first
        callers = [r[0] for r in rows(conn, "SELECT caller FROM idem_keys "
                                            "WHERE key = %s", key)]
        assert len(callers) == 2 and legacy[1] in callers
    finally:
        d.stop()


def balance(user_id, total, reserved):
    return users_pb2.Balance(user_id=user_id, total=h.rub(total), reserved=h.rub(reserved),
                             available=h.rub(total - reserved))


def test_migration_7_moves_stored_answers_to_idem_keys_where_retries_replay_them(
        db_at_migration, spare_users, service_md):
    """A database of the release before libs/idem, holding a Deposit and a
    ReserveFunds answered under the test service's keys: after the upgrade
    the same requests get those answers byte for byte, from the single
    calls and from a batch, and another request under a key is refused."""
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("needs python3-cryptography for the service identity the keys belong to")
    dsn, conn = db_at_migration(6)
    (uid,), = rows(conn, "INSERT INTO users (email, password_hash, role, display_name) "
                         "VALUES (%s, 'x', 'bidder', 'Upgraded') RETURNING id",
                   h.unique_email())
    deposit = users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=uid,
                                       amount=h.rub(100))
    reserve = users_pb2.ReserveFundsRequest(idempotency_key=h.idem(), user_id=uid, lot_id=9,
                                            amount=h.rub(50))
    # Answers the database never held in its wallets: only a replay gives them.
    answers = {
        "Deposit": (deposit, users_pb2.DepositResponse(balance=balance(uid, 777, 0),
                                                       ledger_tx_id=4242)),
        "ReserveFunds": (reserve, users_pb2.ReserveFundsResponse(
            hold_id=31337, balance=balance(uid, 777, 50))),
    }
    for method, (req, resp) in answers.items():
        rows(conn, "INSERT INTO idempotency_keys (method, caller, key, request_hash, response) "
                   "VALUES (%s, 'tests', %s, %s, %s) RETURNING 1", method,
             req.idempotency_key, hashlib.sha256(req.SerializeToString()).hexdigest(),
             resp.SerializeToString())
    d = spare_users("upgrade7", GAVEL_PG_DSN=dsn)
    try:
        assert rows(conn, "SELECT max(version) FROM gavel_migrations "
                          "WHERE component = 'users'") == [(LATEST,)]
        assert rows(conn, "SELECT to_regclass('idempotency_keys') IS NULL") == [(True,)]
        moved = {r[0]: (r[1], r[2], r[3], bytes(r[4])) for r in rows(
            conn, "SELECT scope, caller, key, request_hash, response FROM idem_keys")}
        for method, (req, resp) in answers.items():
            assert moved[method] == ("tests", req.idempotency_key,
                                     hashlib.sha256(req.SerializeToString()).hexdigest(),
                                     resp.SerializeToString())

        wallet = users_pb2_grpc.WalletStub(d.channel)
        got = h.call(wallet.Deposit, deposit, service_md)
        assert got.SerializeToString() == answers["Deposit"][1].SerializeToString()
        got = h.call(wallet.ReserveFunds, reserve, service_md)
        assert got.SerializeToString() == answers["ReserveFunds"][1].SerializeToString()
        batch = h.call(wallet.ReserveFundsBatch,
                       users_pb2.ReserveFundsBatchRequest(items=[reserve]), service_md)
        assert batch.results[0].status.code == 0
        assert batch.results[0].response == answers["ReserveFunds"][1]

        other = users_pb2.DepositRequest()
        other.CopyFrom(deposit)
        other.amount.units = 101
        e = h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, wallet.Deposit, other,
                           service_md)
        assert e.details() == ("idempotency_key %s was already used for a different request"
                               % deposit.idempotency_key)
        # Nothing moved: every answer was a replay.
        assert rows(conn, "SELECT count(*) FROM wallets") == [(0,)]
        assert rows(conn, "SELECT count(*) FROM ledger_tx") == [(0,)]
    finally:
        d.stop()
