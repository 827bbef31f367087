/*
 * The gavel.payments.v1.Payments surface: one row per method with who may
 * call it. Authorize is the winner's (or staff's); Capture is staff's, or a
 * bidder's for their own top-up (checked in card_ops.c); Void and Refund
 * are staff only; GetPayment and ListPayments show a user only the
 * payments they pay or are paid by (checked in the handlers); the webhook
 * comes from the gateway's service identity.
 */
#include "payments.h"

#define N(name) "/gavel.payments.v1.Payments/" name
#define D(t) &gavel__payments__v1__##t##__descriptor
#define PROVIDER_DEADLINE_MS 30000 /* a provider call with its retries */
const rpc_method pay_methods[] = {
    { N("Authorize"), D(authorize_request), D(authorize_response), pay_authorize,
      RPC_ROLE_BIDDER | RPC_STAFF, RPC_IDEMPOTENT, PROVIDER_DEADLINE_MS, RPC_CLASS_NORMAL,
      8192 },
    { N("Capture"), D(capture_request), D(capture_response), pay_capture,
      RPC_ROLE_BIDDER | RPC_STAFF, RPC_IDEMPOTENT, PROVIDER_DEADLINE_MS, RPC_CLASS_NORMAL, 4096 },
    { N("Void"), D(void_request), D(void_response), pay_void, RPC_STAFF, RPC_IDEMPOTENT,
      PROVIDER_DEADLINE_MS, RPC_CLASS_NORMAL, 8192 },
    { N("Refund"), D(refund_request), D(refund_response), pay_refund, RPC_STAFF,
      RPC_IDEMPOTENT, PROVIDER_DEADLINE_MS, RPC_CLASS_NORMAL, 8192 },
    { N("GetPayment"), D(get_payment_request), D(get_payment_response), pay_get_payment,
      RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { N("ListPayments"), D(list_payments_request), D(list_payments_response),
      pay_list_payments, RPC_ANY_USER, RPC_IDEMPOTENT, 5000, RPC_CLASS_NORMAL, 0 },
    { N("HandleProviderWebhook"), D(handle_provider_webhook_request),
      D(handle_provider_webhook_response), pay_webhook, RPC_ROLE_SERVICE, RPC_IDEMPOTENT,
      5000, RPC_CLASS_NORMAL, 1024 * 1024 + 4096 },
    { N("Ping"), &gavel__common__v1__ping_request__descriptor,
      &gavel__common__v1__ping_response__descriptor, rpc_ping, RPC_PUBLIC, RPC_IDEMPOTENT,
      1000, RPC_CLASS_INLINE, 0 },
    { 0 },
};
