"""The daemon starts, migrates, answers health and Ping, serves its
metrics, and its database refuses an unbalanced or rewritten ledger."""
import grpc
import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import common_pb2


def test_health_ping_and_metrics(payments, pay_stub):
    assert h.health(payments.channel) == h.SERVING
    r = h.call(pay_stub.Ping, common_pb2.PingRequest(payload=b"pay"))
    assert r.payload == b"pay" and r.server_time_us > 0
    h.wait_until(lambda: h.metric_value(payments, "gavel_payments_ledger_checks_total") > 0,
                 10 * h.SLOW, what="a ledger check")
    assert h.metric_value(payments, "gavel_payments_ledger_unbalanced_currencies") == 0
    assert h.metric_value(payments, "gavel_payments_ledger_unbalanced_txns") == 0


def _txn(cur, ref):
    cur.execute("INSERT INTO ledger_txns (kind, ref, created_at_us) VALUES ('test', %s, 1) "
                "RETURNING id", (ref,))
    return cur.fetchone()[0]


def test_database_refuses_an_unbalanced_txn_at_commit(payments):
    conn = psycopg2.connect(payments.env["GAVEL_PG_DSN"])
    try:
        with pytest.raises(psycopg2.errors.CheckViolation, match="unbalanced"):
            with conn, conn.cursor() as cur:
                t = _txn(cur, "test-unbalanced-" + h.idem())
                cur.execute("INSERT INTO ledger_entries (txn_id, account, owner_id, currency, "
                            "amount) VALUES (%s, 'platform_fees', 0, 'RUB', 100), "
                            "(%s, 'payouts', 0, 'RUB', -99)", (t, t))
        with pytest.raises(psycopg2.errors.CheckViolation, match="entries"):
            with conn, conn.cursor() as cur:
                t = _txn(cur, "test-single-" + h.idem())
                cur.execute("INSERT INTO ledger_entries (txn_id, account, owner_id, currency, "
                            "amount) VALUES (%s, 'platform_fees', 0, 'RUB', 5)", (t,))
        with pytest.raises(psycopg2.errors.CheckViolation, match="unbalanced"):
            with conn, conn.cursor() as cur:  # balanced in sum, not per currency
                t = _txn(cur, "test-currency-" + h.idem())
                cur.execute("INSERT INTO ledger_entries (txn_id, account, owner_id, currency, "
                            "amount) VALUES (%s, 'platform_fees', 0, 'RUB', 5), "
                            "(%s, 'payouts', 0, 'EUR', -5)", (t, t))
        with conn, conn.cursor() as cur:  # balanced: accepted, then never changed
            t = _txn(cur, "test-ok-" + h.idem())
            cur.execute("INSERT INTO ledger_entries (txn_id, account, owner_id, currency, "
                        "amount) VALUES (%s, 'platform_fees', 0, 'RUB', 7), "
                        "(%s, 'payouts', 0, 'RUB', -7)", (t, t))
        for sql in ("UPDATE ledger_entries SET amount = 8 WHERE txn_id = %s",
                    "DELETE FROM ledger_entries WHERE txn_id = %s",
                    "DELETE FROM ledger_txns WHERE id = %s"):
            with pytest.raises(psycopg2.errors.CheckViolation, match="append-only"):
                with conn, conn.cursor() as cur:
                    cur.execute(sql, (t,))
    finally:
        conn.close()


def test_describe_lists_settings_and_series(payments):
    import subprocess
    out = subprocess.run([payments.binary, "--describe"], capture_output=True, text=True,
                         timeout=10 * h.SLOW, env=payments._proc_env())
    assert out.returncode == 0, out.stderr
    for name in ("GAVEL_PAYMENTS_PROVIDER_URL", "GAVEL_PAYMENTS_PROVIDER_KEY",
                 "GAVEL_PAYMENTS_WEBHOOK_SECRET", "gavel_payments_ledger_unbalanced_currencies"):
        assert name in out.stdout


def test_unknown_method_is_unimplemented(payments):
    m = h.raw_method(payments.channel, "/gavel.payments.v1.Payments/Nope")
    with pytest.raises(grpc.RpcError) as e:
        m(b"", timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
