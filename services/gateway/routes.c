/*
 * The gateway's REST surface, one row per route (see routes.h). Paths are
 * resource-style: a collection, an item by id, and verbs of a lot's
 * lifecycle as sub-resources. Roles are the services' to enforce; a row
 * only says whether a token is needed (but the gateway's own routes,
 * which no service sees: GW_R_SELLERS). Methods the services keep for each
 * other (OpenLot, CloseLot, the wallet's reserve, release, capture and
 * batch calls) have no row: they are never reachable from outside.
 */
#include "live.h"
#include "routes.h"

#include "gavel/auctions/v1/auctions.pb-c.h"
#include "gavel/bids/v1/bids.pb-c.h"
#include "gavel/notifications/v1/notifications.pb-c.h"
#include "gavel/payments/v1/payments.pb-c.h"
#include "gavel/search/v1/search.pb-c.h"
#include "gavel/streaming/v1/streaming.pb-c.h"
#include "gavel/users/v1/users.pb-c.h"

/* One declared client method: "/gavel.<pkg>.v1.<Svc>/<Method>" with its
 * protoc-c descriptors, named from the same words. */
#define CALL(pkg, Svc, svc, Method, method)                                                    \
    static const rpc_client_method call_##svc##_##method = {                                  \
        "/gavel." #pkg ".v1." #Svc "/" #Method, &gavel__##pkg##__v1__##svc##__descriptor,    \
        &gavel__##pkg##__v1__##method##_request__descriptor,                                  \
        &gavel__##pkg##__v1__##method##_response__descriptor                                  \
    }

CALL(users, Users, users, Register, register);
CALL(users, Users, users, Login, login);
CALL(users, Users, users, Refresh, refresh);
CALL(users, Users, users, Logout, logout);
CALL(users, Users, users, GetProfile, get_profile);
CALL(users, Users, users, UpdateProfile, update_profile);
CALL(users, Users, users, ListParticipation, list_participation);
CALL(users, Wallet, wallet, GetBalance, get_balance);
CALL(users, Wallet, wallet, GetHold, get_hold);
CALL(users, Wallet, wallet, ListHolds, list_holds);
CALL(users, Wallet, wallet, ListLedger, list_ledger);
CALL(users, Wallet, wallet, Deposit, deposit);
CALL(auctions, Auctions, auctions, ListCategories, list_categories);
CALL(auctions, Auctions, auctions, CreateCategory, create_category);
CALL(auctions, Auctions, auctions, ListLots, list_lots);
CALL(auctions, Auctions, auctions, CreateLot, create_lot);
CALL(auctions, Auctions, auctions, GetLot, get_lot);
CALL(auctions, Auctions, auctions, UpdateLot, update_lot);
CALL(auctions, Auctions, auctions, GetLotHistory, get_lot_history);
CALL(auctions, Auctions, auctions, SubmitLot, submit_lot);
CALL(auctions, Auctions, auctions, ModerateLot, moderate_lot);
CALL(auctions, Auctions, auctions, ScheduleLot, schedule_lot);
CALL(auctions, Auctions, auctions, CancelLot, cancel_lot);
CALL(auctions, Auctions, auctions, HammerLot, hammer_lot);
CALL(auctions, Auctions, auctions, QuoteServices, quote_services);
CALL(auctions, Auctions, auctions, ListPriceRules, list_price_rules);
CALL(auctions, Auctions, auctions, CreatePriceRule, create_price_rule);
CALL(auctions, Auctions, auctions, UpdatePriceRule, update_price_rule);
CALL(auctions, Auctions, auctions, DeletePriceRule, delete_price_rule);
CALL(bids, Bids, bids, PlaceBid, place_bid);
CALL(bids, Bids, bids, ListBids, list_bids);
CALL(bids, Bids, bids, GetLotState, get_lot_state);
CALL(bids, Bids, bids, SetAutoBid, set_auto_bid);
CALL(bids, Bids, bids, CancelAutoBid, cancel_auto_bid);
CALL(bids, Bids, bids, PlaceFloorBid, place_floor_bid);
CALL(bids, Bids, bids, FairWarning, fair_warning);
CALL(notifications, Notifications, notifications, ListInbox, list_inbox);
CALL(notifications, Notifications, notifications, MarkRead, mark_read);
CALL(notifications, Notifications, notifications, GetPreferences, get_preferences);
CALL(notifications, Notifications, notifications, SetPreferences, set_preferences);
CALL(notifications, Notifications, notifications, ListSubscriptions, list_subscriptions);
CALL(notifications, Notifications, notifications, Subscribe, subscribe);
CALL(notifications, Notifications, notifications, Unsubscribe, unsubscribe);
CALL(notifications, Notifications, notifications, RegisterWebhook, register_webhook);
CALL(notifications, Notifications, notifications, ListWebhooks, list_webhooks);
CALL(notifications, Notifications, notifications, DeleteWebhook, delete_webhook);

/* search */
CALL(search, Search, search, Search, search);
CALL(search, Search, search, Suggest, suggest);

/* streaming */
CALL(streaming, Streaming, streaming, CreateStream, create_stream);
CALL(streaming, Streaming, streaming, RotateKey, rotate_key);
CALL(streaming, Streaming, streaming, RevokeKey, revoke_key);
CALL(streaming, Streaming, streaming, GetStream, get_stream);
CALL(streaming, Streaming, streaming, ListStreams, list_streams);

/* payments */
CALL(payments, Payments, payments, Authorize, authorize);
CALL(payments, Payments, payments, Capture, capture);
CALL(payments, Payments, payments, Void, void);
CALL(payments, Payments, payments, Refund, refund);
CALL(payments, Payments, payments, GetPayment, get_payment);
CALL(payments, Payments, payments, ListPayments, list_payments);
CALL(payments, Payments, payments, HandleProviderWebhook, handle_provider_webhook);

#define R GW_RATE_READ
#define W GW_RATE_WRITE
#define A GW_RATE_AUTH
#define TOKEN GW_AUTH_TOKEN
#define PUBLIC GW_AUTH_PUBLIC
#define KEY "idempotency_key"

const gw_route gw_routes[] = {
    /* accounts and sessions */
    { GW_POST, "/api/v1/auth/register", &call_users_register, GW_SVC_USERS, PUBLIC, "*", NULL,
      A, 0, "Create a bidder or seller account", NULL },
    { GW_POST, "/api/v1/auth/login", &call_users_login, GW_SVC_USERS, PUBLIC, "*", NULL, A,
      GW_R_LOGIN, "Log in: an access token and a refresh token", NULL },
    { GW_POST, "/api/v1/auth/refresh", &call_users_refresh, GW_SVC_USERS, PUBLIC, "*", NULL, A,
      0, "Trade a refresh token for a new pair (single use)", NULL },
    { GW_POST, "/api/v1/auth/logout", &call_users_logout, GW_SVC_USERS, TOKEN, "*", NULL, W, 0,
      "Revoke the access token (and a refresh token's family)", NULL },
    { GW_GET, "/api/v1/me", &call_users_get_profile, GW_SVC_USERS, TOKEN, NULL, NULL, R,
      GW_R_RETRY, "The caller's profile", NULL },
    { GW_PATCH, "/api/v1/me", &call_users_update_profile, GW_SVC_USERS, TOKEN, "*", NULL, W, 0,
      "Change the caller's profile (fields named in updateMask)", NULL },
    { GW_GET, "/api/v1/me/participation", &call_users_list_participation, GW_SVC_USERS, TOKEN,
      NULL, NULL, R, GW_R_RETRY, "Lots the caller bid on, most recent first", NULL },
    { GW_GET, "/api/v1/users/{user_id}", &call_users_get_profile, GW_SVC_USERS, TOKEN, NULL,
      NULL, R, GW_R_RETRY, "A user's profile (moderators, admins)", NULL },
    { GW_PATCH, "/api/v1/users/{user_id}", &call_users_update_profile, GW_SVC_USERS, TOKEN, "*",
      NULL, W, 0, "Change a user's profile or role (admins)", NULL },
    { GW_GET, "/api/v1/users/{user_id}/participation", &call_users_list_participation,
      GW_SVC_USERS, TOKEN, NULL, NULL, R, GW_R_RETRY, "A user's auction history (admins)", NULL },

    /* wallet */
    { GW_GET, "/api/v1/wallet", &call_wallet_get_balance, GW_SVC_USERS, TOKEN, NULL, NULL, R,
      GW_R_RETRY, "The caller's balance: total, reserved, available", NULL },
    { GW_GET, "/api/v1/wallet/holds", &call_wallet_list_holds, GW_SVC_USERS, TOKEN, NULL, NULL,
      R, GW_R_RETRY, "The caller's holds (state: held, released or captured; lotIds)", NULL },
    { GW_GET, "/api/v1/users/{user_id}/wallet/holds", &call_wallet_list_holds, GW_SVC_USERS,
      TOKEN, NULL, NULL, R, GW_R_RETRY, "A user's holds (admins)", NULL },
    { GW_GET, "/api/v1/wallet/ledger", &call_wallet_list_ledger, GW_SVC_USERS, TOKEN, NULL,
      NULL, R, GW_R_RETRY, "The caller's wallet history, newest first (paged)", NULL },
    { GW_GET, "/api/v1/users/{user_id}/wallet/ledger", &call_wallet_list_ledger, GW_SVC_USERS,
      TOKEN, NULL, NULL, R, GW_R_RETRY, "A user's wallet history (admins)", NULL },
    { GW_GET, "/api/v1/wallet/holds/{hold_id}", &call_wallet_get_hold, GW_SVC_USERS, TOKEN, NULL,
      NULL, R, GW_R_RETRY, "One hold on the caller's funds", NULL },
    { GW_GET, "/api/v1/users/{user_id}/wallet", &call_wallet_get_balance, GW_SVC_USERS, TOKEN,
      NULL, NULL, R, GW_R_RETRY, "A user's balance (admins)", NULL },
    { GW_POST, "/api/v1/users/{user_id}/wallet/deposits", &call_wallet_deposit, GW_SVC_USERS,
      TOKEN, "*", KEY, W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "Credit a user's wallet (admins); Idempotency-Key required", NULL },

    /* catalog */
    { GW_GET, "/api/v1/categories", &call_auctions_list_categories, GW_SVC_AUCTIONS, TOKEN, NULL,
      NULL, R, GW_R_RETRY, "The category tree, or one subtree (rootId)", NULL },
    { GW_POST, "/api/v1/categories", &call_auctions_create_category, GW_SVC_AUCTIONS, TOKEN, "*",
      NULL, W, 0, "Add a category (admins)", NULL },
    { GW_GET, "/api/v1/lots", &call_auctions_list_lots, GW_SVC_AUCTIONS, TOKEN, NULL, NULL, R,
      GW_R_RETRY, "The catalog, filtered by the JSON DSL in filterJson", NULL },
    { GW_POST, "/api/v1/lots/search", &call_auctions_list_lots, GW_SVC_AUCTIONS, TOKEN, "*", NULL,
      R, GW_R_RETRY, "The catalog, with the DSL filter in the body", NULL },

    /* lots and their lifecycle */
    { GW_POST, "/api/v1/lots", &call_auctions_create_lot, GW_SVC_AUCTIONS, TOKEN, "lot", KEY, W,
      GW_R_RETRY, "Create a lot in DRAFT (sellers); the body is the lot", NULL },
    { GW_GET, "/api/v1/lots/{lot_id}", &call_auctions_get_lot, GW_SVC_AUCTIONS, TOKEN, NULL, NULL,
      R, GW_R_RETRY, "One lot", NULL },
    { GW_PATCH, "/api/v1/lots/{lot_id}", &call_auctions_update_lot, GW_SVC_AUCTIONS, TOKEN, "*",
      NULL, W, 0, "Edit a DRAFT or REJECTED lot (fields named in updateMask)", NULL },
    { GW_GET, "/api/v1/lots/{lot_id}/history", &call_auctions_get_lot_history, GW_SVC_AUCTIONS,
      TOKEN, NULL, NULL, R, GW_R_RETRY, "Every transition of a lot", NULL },
    { GW_POST, "/api/v1/lots/{lot_id}/submit", &call_auctions_submit_lot, GW_SVC_AUCTIONS, TOKEN,
      "*", NULL, W, 0, "Send a lot to moderation", NULL },
    { GW_POST, "/api/v1/lots/{lot_id}/moderation", &call_auctions_moderate_lot, GW_SVC_AUCTIONS,
      TOKEN, "*", NULL, W, 0, "Approve or reject a lot (moderators)", NULL },
    { GW_POST, "/api/v1/lots/{lot_id}/schedule", &call_auctions_schedule_lot, GW_SVC_AUCTIONS,
      TOKEN, "*", NULL, W, 0, "Set when an approved lot opens and closes", NULL },
    { GW_POST, "/api/v1/lots/{lot_id}/cancel", &call_auctions_cancel_lot, GW_SVC_AUCTIONS, TOKEN,
      "*", NULL, W, 0, "Withdraw a lot", NULL },
    { GW_GET, "/api/v1/lots/{lot_id}/quote", &call_auctions_quote_services, GW_SVC_AUCTIONS,
      TOKEN, NULL, NULL, R, GW_R_RETRY, "Prices of paid services for a lot", NULL },
    { GW_POST, "/api/v1/quotes", &call_auctions_quote_services, GW_SVC_AUCTIONS, TOKEN, "*", NULL,
      R, GW_R_RETRY, "Prices of paid services for a lot or bare attributes", NULL },

    /* paid-service pricing rules */
    { GW_GET, "/api/v1/price-rules", &call_auctions_list_price_rules, GW_SVC_AUCTIONS, TOKEN,
      NULL, NULL, R, GW_R_RETRY, "Pricing rules (admins, moderators)", NULL },
    { GW_POST, "/api/v1/price-rules", &call_auctions_create_price_rule, GW_SVC_AUCTIONS, TOKEN,
      "rule", NULL, W, 0, "Add a pricing rule (admins); the body is the rule", NULL },
    { GW_PATCH, "/api/v1/price-rules/{rule_id}", &call_auctions_update_price_rule,
      GW_SVC_AUCTIONS, TOKEN, "*", NULL, W, 0, "Change a pricing rule (admins)", NULL },
    { GW_DELETE, "/api/v1/price-rules/{rule_id}", &call_auctions_delete_price_rule,
      GW_SVC_AUCTIONS, TOKEN, NULL, NULL, W, 0, "Delete a pricing rule (admins)", NULL },

    /* bidding */
    { GW_POST, "/api/v1/lots/{lot_id}/bids", &call_bids_place_bid, GW_SVC_BIDS, TOKEN, "*", KEY,
      W, GW_R_KEY_REQUIRED | GW_R_RETRY, "Place a bid; Idempotency-Key required", NULL },
    { GW_GET, "/api/v1/lots/{lot_id}/bids", &call_bids_list_bids, GW_SVC_BIDS, TOKEN, NULL, NULL,
      R, GW_R_RETRY, "A lot's bid log in seq order, with hash-chained receipts", NULL },
    { GW_GET, "/api/v1/lots/{lot_id}/state", &call_bids_get_lot_state, GW_SVC_BIDS, TOKEN, NULL,
      NULL, R, GW_R_RETRY, "A lot's live state: price, leader, end, the caller's autobid", NULL },
    { GW_PUT, "/api/v1/lots/{lot_id}/autobid", &call_bids_set_auto_bid, GW_SVC_BIDS, TOKEN, "*",
      KEY, W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "Set or raise the caller's autobid; Idempotency-Key required", NULL },
    { GW_DELETE, "/api/v1/lots/{lot_id}/autobid", &call_bids_cancel_auto_bid, GW_SVC_BIDS, TOKEN,
      NULL, KEY, W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "Stop the caller's autobid; Idempotency-Key required", NULL },

    /* venue sales (simulcast): the clerk's floor bids, fair warning and hammer
     * (staff; the services check the role and that the lot is a venue lot) */
    { GW_POST, "/api/v1/lots/{lot_id}/floor-bids", &call_bids_place_floor_bid, GW_SVC_BIDS,
      TOKEN, "*", KEY, W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "A bid from the room (floorPaddle, amount) entered by the clerk (staff); "
      "Idempotency-Key required", NULL },
    { GW_POST, "/api/v1/lots/{lot_id}/fair-warning", &call_bids_fair_warning, GW_SVC_BIDS,
      TOKEN, "*", NULL, W, 0, "The clerk's last call on a venue lot, sent to every watcher "
      "(staff)", NULL },
    { GW_POST, "/api/v1/lots/{lot_id}/hammer", &call_auctions_hammer_lot, GW_SVC_AUCTIONS,
      TOKEN, "*", NULL, W, GW_R_RETRY, "The clerk's hammer: close a live venue lot now, the "
      "leader winning (staff; idempotent)", NULL },

    /* venue streams: staff create them and get the ingest key once; any user
     * reads them (status, playback URL, viewers, latency) */
    { GW_POST, "/api/v1/streams", &call_streaming_create_stream, GW_SVC_STREAMING, TOKEN, "*",
      KEY, W, GW_R_RETRY, "Create the stream of a venue session (staff): its key, shown once",
      NULL },
    { GW_GET, "/api/v1/streams", &call_streaming_list_streams, GW_SVC_STREAMING, TOKEN, NULL,
      NULL, R, GW_R_RETRY, "Streams, newest first (sessionId, status, page)", NULL },
    { GW_GET, "/api/v1/streams/{stream_id}", &call_streaming_get_stream, GW_SVC_STREAMING,
      TOKEN, NULL, NULL, R, GW_R_RETRY,
      "One stream: status, playback URL, viewers, measured latency", NULL },
    { GW_POST, "/api/v1/streams/{stream_id}/rotate-key", &call_streaming_rotate_key,
      GW_SVC_STREAMING, TOKEN, "*", NULL, W, 0,
      "A new ingest key, shown once; the old one stops at once (staff)", NULL },
    { GW_POST, "/api/v1/streams/{stream_id}/revoke-key", &call_streaming_revoke_key,
      GW_SVC_STREAMING, TOKEN, "*", NULL, W, GW_R_RETRY,
      "Revoke the stream's key and drop its publisher (staff; idempotent)", NULL },
    { GW_GET, "/live/{stream}/{file}", NULL, GW_SVC_GATEWAY, GW_AUTH_NONE, NULL, NULL, R, 0,
      "A venue stream's HLS: /live/<name>/index.m3u8 (no-cache; ?v=<player id> counts the "
      "viewer) and its segments (.ts, .m4s; immutable)", gw_live_serve },

    /* notifications: the caller's inbox, preferences and subscriptions (userId
     * in the query or body reaches another user's, for admins) */
    { GW_GET, "/api/v1/notifications", &call_notifications_list_inbox, GW_SVC_NOTIFICATIONS,
      TOKEN, NULL, NULL, R, GW_R_RETRY,
      "The caller's inbox, newest first (paged; unreadOnly), with the unread count", NULL },
    { GW_POST, "/api/v1/notifications/read", &call_notifications_mark_read,
      GW_SVC_NOTIFICATIONS, TOKEN, "*", NULL, W, GW_R_RETRY,
      "Mark notifications read (notificationIds, or every one up to upToId)", NULL },
    { GW_GET, "/api/v1/notifications/preferences", &call_notifications_get_preferences,
      GW_SVC_NOTIFICATIONS, TOKEN, NULL, NULL, R, GW_R_RETRY,
      "The caller's channels per kind, quiet hours, email, language (defaults when never set)", NULL },
    { GW_PATCH, "/api/v1/notifications/preferences", &call_notifications_set_preferences,
      GW_SVC_NOTIFICATIONS, TOKEN, "*", NULL, W, 0,
      "Change the caller's notification preferences (fields named in updateMask)", NULL },
    { GW_GET, "/api/v1/subscriptions", &call_notifications_list_subscriptions,
      GW_SVC_NOTIFICATIONS, TOKEN, NULL, NULL, R, GW_R_RETRY,
      "The caller's subscriptions, newest first (paged)", NULL },
    { GW_POST, "/api/v1/subscriptions", &call_notifications_subscribe, GW_SVC_NOTIFICATIONS,
      TOKEN, "subscription", NULL, W, 0,
      "Follow a lot, seller, saved search or segment; the body is the subscription", NULL },
    { GW_DELETE, "/api/v1/subscriptions/{subscription_id}", &call_notifications_unsubscribe,
      GW_SVC_NOTIFICATIONS, TOKEN, NULL, NULL, W, 0, "Stop a subscription of the caller's",
      NULL },

    /* uploaded lot photos (media.c), kept and served by the gateway itself */
    { GW_POST, "/api/v1/media", NULL, GW_SVC_GATEWAY, TOKEN, "image/jpeg, image/png, image/webp",
      NULL, W, GW_R_JOB | GW_R_SELLERS,
      "Upload a lot photo (sellers): the raw JPEG, PNG or WebP as the body; its URL back",
      gw_media_upload },
    { GW_GET, "/media/{file}", NULL, GW_SVC_GATEWAY, GW_AUTH_NONE, NULL, NULL, R, GW_R_JOB,
      "An uploaded photo, /media/<sha256>.<jpg|png|webp> (cacheable for a year)",
      gw_media_serve },

    /* search: full text, DSL filters, facets and sorts over the search index */
    { GW_GET, "/api/v1/search", &call_search_search, GW_SVC_SEARCH, TOKEN, NULL, NULL, R,
      GW_R_RETRY, "Search the catalog: query, filterJson, sort, page (no facets)", NULL },
    { GW_POST, "/api/v1/search", &call_search_search, GW_SVC_SEARCH, TOKEN, "*", NULL, R,
      GW_R_RETRY, "Search the catalog with facets; the body is the SearchRequest", NULL },
    { GW_GET, "/api/v1/search/suggest", &call_search_suggest, GW_SVC_SEARCH, TOKEN, NULL, NULL,
      R, GW_R_RETRY, "Completions of makes, models, titles and regions for a prefix", NULL },

    /* payments: card holds and captures, refunds, and the provider's signed
     * webhooks (no token: the signature is checked by the payments service;
     * the call goes out with the gateway's service identity) */
    { GW_GET, "/api/v1/payments", &call_payments_list_payments, GW_SVC_PAYMENTS, TOKEN, NULL,
      NULL, R, GW_R_RETRY,
      "Payments, newest first (paged; lotId, payerId, payeeId, state): the caller's own "
      "unless admin", NULL },
    { GW_POST, "/api/v1/payments", &call_payments_authorize, GW_SVC_PAYMENTS, TOKEN, "*", KEY,
      W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "Hold an amount on a card (manual capture); Idempotency-Key required", NULL },
    { GW_GET, "/api/v1/payments/{payment_id}", &call_payments_get_payment, GW_SVC_PAYMENTS,
      TOKEN, NULL, NULL, R, GW_R_RETRY, "A payment of the caller's (payer or payee)", NULL },
    { GW_POST, "/api/v1/payments/{payment_id}/capture", &call_payments_capture,
      GW_SVC_PAYMENTS, TOKEN, "*", KEY, W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "Capture the exact final amount of a held payment (staff); Idempotency-Key required",
      NULL },
    { GW_POST, "/api/v1/payments/{payment_id}/void", &call_payments_void, GW_SVC_PAYMENTS,
      TOKEN, "*", KEY, W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "Release a payment's hold without capturing (staff); Idempotency-Key required", NULL },
    { GW_POST, "/api/v1/payments/{payment_id}/refunds", &call_payments_refund,
      GW_SVC_PAYMENTS, TOKEN, "*", KEY, W, GW_R_KEY_REQUIRED | GW_R_RETRY,
      "Refund captured money in part or in full (staff); Idempotency-Key required", NULL },
    { GW_POST, "/api/v1/payments/webhook", &call_payments_handle_provider_webhook,
      GW_SVC_PAYMENTS, PUBLIC, "*", NULL, W, GW_R_WEBHOOK,
      "The card provider's signed event (Gavel-Signature header), passed on unchanged", NULL },

    /* partner webhooks: signed POSTs of the caller's notifications (the
     * secret is the partner's, never returned; userId reaches another
     * user's, for admins) */
    { GW_GET, "/api/v1/webhooks", &call_notifications_list_webhooks, GW_SVC_NOTIFICATIONS,
      TOKEN, NULL, NULL, R, GW_R_RETRY, "The caller's webhooks (secrets never shown)", NULL },
    { GW_POST, "/api/v1/webhooks", &call_notifications_register_webhook, GW_SVC_NOTIFICATIONS,
      TOKEN, "*", NULL, W, 0,
      "Register a webhook (url, secret, kinds, description); the same url again replaces "
      "its secret and kinds and revives it", NULL },
    { GW_DELETE, "/api/v1/webhooks/{webhook_id}", &call_notifications_delete_webhook,
      GW_SVC_NOTIFICATIONS, TOKEN, NULL, NULL, W, 0, "Remove a webhook of the caller's", NULL },

    /* the gateway itself */
    { GW_GET, "/openapi.json", NULL, GW_SVC_GATEWAY, GW_AUTH_NONE, NULL, NULL, R, 0,
      "This API as an OpenAPI 3.1 document", gw_openapi_serve },
    { 0 },
};
