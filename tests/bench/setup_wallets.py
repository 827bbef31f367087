"""Creates N funded bidder wallets for the reserve benchmark.

Usage: setup_wallets.py USERS_ADDR ADMIN_ENV N
Prints the new user ids, comma-separated. Goes through the public API
(Register, Login, Wallet.Deposit as admin), like any client would.
"""
import sys
import uuid

import grpc
from gavel.common.v1 import common_pb2
from gavel.users.v1 import users_pb2, users_pb2_grpc


def main():
    addr, admin_env, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    creds = dict(line.strip().split("=", 1) for line in open(admin_env) if "=" in line)
    ch = grpc.insecure_channel(addr)
    users = users_pb2_grpc.UsersStub(ch)
    wallet = users_pb2_grpc.WalletStub(ch)
    admin = users.Login(users_pb2.LoginRequest(email=creds["GAVEL_ADMIN_EMAIL"],
                                               password=creds["GAVEL_ADMIN_PASSWORD"]))
    md = [("authorization", "Bearer " + admin.tokens.access_token)]
    ids = []
    for i in range(n):
        tag = uuid.uuid4().hex[:10]
        r = users.Register(users_pb2.RegisterRequest(
            email=f"bench-{tag}@dealers.example", password="bench-password-1",
            role=users_pb2.ROLE_BIDDER, display_name=f"Bench dealer {i}"))
        wallet.Deposit(users_pb2.DepositRequest(
            idempotency_key="bench-deposit-" + tag, user_id=r.profile.user_id,
            amount=common_pb2.Money(currency="RUB", units=10**14)), metadata=md)
        ids.append(r.profile.user_id)
    print(",".join(str(i) for i in ids))


if __name__ == "__main__":
    main()
