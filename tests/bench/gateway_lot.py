"""Creates the lot the gateway benchmark reads: a category (as admin), a
seller and the seller's DRAFT lot, through the public gRPC API. The seller
may read its lot in every state, so GET /api/v1/lots/{id} with the seller's
token takes the route's full path (token check, GetLot, the answer's JSON).

Usage: gateway_lot.py USERS_ADDR AUCTIONS_ADDR ADMIN_ENV
Prints "lot_id seller_access_token"."""
import sys
import uuid

import grpc
from gavel.auctions.v1 import auctions_pb2, auctions_pb2_grpc
from gavel.common.v1 import common_pb2
from gavel.users.v1 import users_pb2, users_pb2_grpc


def main():
    users_addr, auctions_addr, admin_env = sys.argv[1:4]
    creds = dict(l.strip().split("=", 1) for l in open(admin_env) if "=" in l)
    users = users_pb2_grpc.UsersStub(grpc.insecure_channel(users_addr))
    auctions = auctions_pb2_grpc.AuctionsStub(grpc.insecure_channel(auctions_addr))
    admin = users.Login(users_pb2.LoginRequest(email=creds["GAVEL_ADMIN_EMAIL"],
                                               password=creds["GAVEL_ADMIN_PASSWORD"]))
    tag = uuid.uuid4().hex[:10]
    cat = auctions.CreateCategory(auctions_pb2.CreateCategoryRequest(
        name="Bench cars " + tag, slug="bench-cars-" + tag),
        metadata=[("authorization", "Bearer " + admin.tokens.access_token)]).category
    email = f"gw-seller-{tag}@bench.example"
    users.Register(users_pb2.RegisterRequest(email=email, password="bench-password-1",
                                             role=users_pb2.ROLE_SELLER,
                                             display_name="Bench seller " + tag))
    seller = users.Login(users_pb2.LoginRequest(email=email, password="bench-password-1"))
    lot = auctions_pb2.Lot(
        title="Toyota Camry 2.5 XLE", description="One owner, dealer serviced.",
        make="Toyota", model="Camry", year=2019, mileage_km=64000, vin="JTNB11HK0K3012345",
        region="Moscow", city_id=671, category_id=cat.id,
        photo_urls=["https://img.gavel.test/1.jpg"],
        start_price=common_pb2.Money(currency="RUB", units=100000000))
    got = auctions.CreateLot(auctions_pb2.CreateLotRequest(lot=lot), metadata=[
        ("authorization", "Bearer " + seller.tokens.access_token)]).lot
    print(got.id, seller.tokens.access_token)


if __name__ == "__main__":
    main()
