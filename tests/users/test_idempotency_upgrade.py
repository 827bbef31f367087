"""Upgrading a users database to migration 6, which scopes idempotency keys
to their caller: the keys stored before it stay, under a caller no token
subject can be, so no call matches them again (docs/operations.md: a retry
that crosses the upgrade runs as a new call)."""
import os
import re

import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import users_pb2, users_pb2_grpc

MIGRATIONS = os.path.join(h.ROOT, "services", "users", "migrations")
DB = "gavel_users_upgrade"
# What libs/db/db_migrate.c creates to record applied migrations.
RECORDS = ("CREATE TABLE IF NOT EXISTS gavel_migrations (component text NOT NULL, "
           "version int NOT NULL, name text NOT NULL, "
           "applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))")


def with_dbname(dsn, name):
    return re.sub(r"dbname=\S+", "dbname=" + name, dsn)


@pytest.fixture
def db_at_migration_5(users):
    """A new users database with migrations 1 to 5 applied and recorded, as
    the release before migration 6 left it: (dsn, connection)."""
    dsn = with_dbname(users.env["GAVEL_PG_DSN"], DB)
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
            if version > 5:
                continue
            with open(os.path.join(MIGRATIONS, name)) as f:
                cur.execute(f.read())
            cur.execute("INSERT INTO gavel_migrations (component, version, name) "
                        "VALUES ('users', %s, %s)", (version, name))
    try:
        yield dsn, conn
    finally:
        conn.close()
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB)
        admin.close()


def rows(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_migration_6_keeps_earlier_keys_but_no_caller_matches_them(db_at_migration_5,
                                                                   spare_users, service_md):
    dsn, conn = db_at_migration_5
    key = h.idem()
    rows(conn, "INSERT INTO idempotency_keys (method, key, request_hash, response) "
               "VALUES ('Deposit', %s, %s, '\\x0801') RETURNING 1", key, "0" * 64)
    d = spare_users("upgrade", GAVEL_PG_DSN=dsn)
    try:
        assert rows(conn, "SELECT max(version) FROM gavel_migrations "
                          "WHERE component = 'users'") == [(6,)]
        (legacy,) = rows(conn, "SELECT method, caller, key, request_hash FROM idempotency_keys")
        assert (legacy[0], legacy[2], legacy[3]) == ("Deposit", key, "0" * 64)
        assert len(legacy[1].encode()) > 63, "a token subject (at most 63 bytes) could match"
        pk = rows(conn, "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                        "WHERE i.indrelid = 'idempotency_keys'::regclass AND i.indisprimary "
                        "ORDER BY array_position(i.indkey::int2[], a.attnum)")
        assert [r[0] for r in pk] == ["method", "caller", "key"]

        # The same key after the upgrade is a new call of its caller (before,
        # another request under it was FAILED_PRECONDITION), and from then on
        # it replays as usual.
        a = h.register(users_pb2_grpc.UsersStub(d.channel), login=False)
        wallet = users_pb2_grpc.WalletStub(d.channel)
        req = users_pb2.DepositRequest(idempotency_key=key, user_id=a.id, amount=h.rub(100))
        first = h.call(wallet.Deposit, req, service_md)
        assert h.balance_tuple(first.balance) == (100, 0, 100)
        assert h.call(wallet.Deposit, req, service_md) == first
        callers = [r[0] for r in rows(conn, "SELECT caller FROM idempotency_keys "
                                            "WHERE key = %s", key)]
        assert len(callers) == 2 and legacy[1] in callers
    finally:
        d.stop()
