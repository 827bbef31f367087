"""Registers N funded bidders for the bids benchmark and prints
"user_id access_token" per line. Usage: bidders.py USERS_ADDR ADMIN_ENV N"""
import sys
import uuid

import grpc
from gavel.common.v1 import common_pb2
from gavel.users.v1 import users_pb2, users_pb2_grpc


def main():
    addr, admin_env, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    creds = dict(l.strip().split("=", 1) for l in open(admin_env) if "=" in l)
    ch = grpc.insecure_channel(addr)
    users, wallet = users_pb2_grpc.UsersStub(ch), users_pb2_grpc.WalletStub(ch)
    admin = users.Login(users_pb2.LoginRequest(email=creds["GAVEL_ADMIN_EMAIL"],
                                               password=creds["GAVEL_ADMIN_PASSWORD"]))
    md = [("authorization", "Bearer " + admin.tokens.access_token)]
    for i in range(n):
        tag = uuid.uuid4().hex[:10]
        email = f"bidder-{tag}@bench.example"
        r = users.Register(users_pb2.RegisterRequest(
            email=email, password="bench-password-1", role=users_pb2.ROLE_BIDDER,
            display_name=f"Bench bidder {i}"))
        wallet.Deposit(users_pb2.DepositRequest(
            idempotency_key="bench-" + tag, user_id=r.profile.user_id,
            amount=common_pb2.Money(currency="RUB", units=10**14)), metadata=md)
        login = users.Login(users_pb2.LoginRequest(email=email, password="bench-password-1"))
        print(r.profile.user_id, login.tokens.access_token)
    seller = users.Register(users_pb2.RegisterRequest(
        email=f"seller-{uuid.uuid4().hex[:10]}@bench.example", password="bench-password-1",
        role=users_pb2.ROLE_SELLER, display_name="Bench seller"))
    print(seller.profile.user_id, "seller", file=sys.stderr)


if __name__ == "__main__":
    main()
