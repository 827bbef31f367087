/*
 * Event kinds and channels as data: their names (the proto enum names
 * without prefix, lower case, as events and JSON carry them), the
 * platform's default channels per kind, and which kinds coalesce.
 *
 * Defaults (a kind the user never set): realtime for everything the user
 * is in; outbid and ending soon also push; a win goes everywhere; what
 * closes or judges a seller's lot, and payments, also email; a new match
 * for a saved search is email only (a digest, later).
 */
#include <stdio.h>

#include "notif.h"

static const struct {
    const char *name;
    const char *channels; /* smallint[] literal */
    bool coalesces;
} kinds[NOTIF_KIND_MAX + 1] = {
    [0] = { "", "{}", false },
    [1] = { "outbid", "{1,3}", true },
    [2] = { "bid_placed", "{1}", true },
    [3] = { "lot_extended", "{1}", true },
    [4] = { "auction_starting", "{1}", false },
    [5] = { "auction_ending_soon", "{1,3}", false },
    [6] = { "auction_won", "{1,2,3,4}", false },
    [7] = { "auction_lost", "{1}", false },
    [8] = { "lot_sold", "{1,2}", false },
    [9] = { "lot_moderated", "{1,2}", false },
    [10] = { "new_match", "{2}", false },
    [11] = { "payment", "{1,2}", false },
    [12] = { "wallet", "{1}", false },
};

static const char *const channels[NOTIF_CH_MAX + 1] = {
    "", "realtime", "email", "push", "telegram", "webhook",
};

bool notif_kind_ok(int kind)
{
    return kind >= 1 && kind <= NOTIF_KIND_MAX;
}

bool notif_channel_ok(int channel)
{
    return channel >= 1 && channel <= NOTIF_CH_MAX;
}

const char *notif_kind_name(int kind)
{
    return notif_kind_ok(kind) ? kinds[kind].name : "";
}

const char *notif_channel_name(int channel)
{
    return notif_channel_ok(channel) ? channels[channel] : "";
}

const char *notif_default_channels(int kind)
{
    return notif_kind_ok(kind) ? kinds[kind].channels : "{}";
}

const char *notif_live_channels(void)
{
    static __thread char lit[32];
    snprintf(lit, sizeof lit, "{1%s%s%s%s}", notif.smtp_url[0] != '\0' ? ",2" : "",
             notif.push_url[0] != '\0' ? ",3" : "",
             notif.telegram_token[0] != '\0' && notif.telegram_url[0] != '\0' ? ",4" : "",
             webhook_secret_ready() ? ",5" : "");
    return lit;
}

bool notif_kind_coalesces(int kind)
{
    return notif_kind_ok(kind) && kinds[kind].coalesces;
}
