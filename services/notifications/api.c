/*
 * The gavel.notifications.v1.Notifications surface: one row per method
 * with who may call it. Every method acts on the caller's own data unless
 * the caller is staff (checked in the handlers). A webhook is
 * registered by a bidder, seller or admin; listed and deleted by its
 * owner or an admin (not by services).
 */
#include "notif.h"

#define N(name) "/gavel.notifications.v1.Notifications/" name
#define D(t) &gavel__notifications__v1__##t##__descriptor
const rpc_method notif_methods[] = {
    { N("Subscribe"), D(subscribe_request), D(subscribe_response), notif_subscribe,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 16384 },
    { N("Unsubscribe"), D(unsubscribe_request), D(unsubscribe_response), notif_unsubscribe,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { N("ListSubscriptions"), D(list_subscriptions_request), D(list_subscriptions_response),
      notif_list_subscriptions, RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { N("SetPreferences"), D(set_preferences_request), D(set_preferences_response),
      notif_set_preferences, RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 65536 },
    { N("GetPreferences"), D(get_preferences_request), D(get_preferences_response),
      notif_get_preferences, RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { N("ListInbox"), D(list_inbox_request), D(list_inbox_response), notif_list_inbox,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { N("MarkRead"), D(mark_read_request), D(mark_read_response), notif_mark_read,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 16384 },
    { N("RegisterWebhook"), D(register_webhook_request), D(register_webhook_response),
      notif_register_webhook, RPC_ROLE_BIDDER | RPC_ROLE_SELLER | RPC_ROLE_ADMIN,
      RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 16384 },
    { N("ListWebhooks"), D(list_webhooks_request), D(list_webhooks_response),
      notif_list_webhooks, RPC_ANY_USER & ~RPC_ROLE_SERVICE, RPC_IDEMPOTENT, 5000,
      RPC_CLASS_NORMAL, 0 },
    { N("DeleteWebhook"), D(delete_webhook_request), D(delete_webhook_response),
      notif_delete_webhook, RPC_ANY_USER & ~RPC_ROLE_SERVICE, RPC_IDEMPOTENT, 5000,
      RPC_CLASS_NORMAL, 0 },
    { N("Ping"), &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC, RPC_IDEMPOTENT,
      1000, RPC_CLASS_INLINE, 0 },
    { 0 },
};
