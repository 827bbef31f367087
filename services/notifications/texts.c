/*
 * Every text a user reads from this daemon, one table per language: the
 * titles and bodies of each kind's notification and the fixed words of
 * emails and digests. A template names its values as placeholders
 * ({lot}, {money}, …; a missing lot or reason has its own words), so a language orders them as it needs; values are
 * rendered for the language (money with the ₽ sign and grouped digits in
 * Russian, dates as the language writes them). The output is UTF-8 and
 * never cut inside a character. A notification is written in English
 * and, for a user whose language is Russian, in Russian too; every
 * channel (realtime, email, push, Telegram, webhooks) and the inbox then
 * show the user's language (notif_sql.c, LOCALISED).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notif.h"

static const char *const en[NOTIF_T_N] = {
    [NOTIF_T_LOT_N] = "lot {num}",
    [NOTIF_T_BID_PLACED_TITLE] = "New bid on {lot}",
    [NOTIF_T_BID_PLACED_BODY] = "A bid of {money} leads now.",
    [NOTIF_T_OUTBID_TITLE] = "You were outbid on {lot}",
    [NOTIF_T_OUTBID_BODY] = "The leading bid is now {money}.",
    [NOTIF_T_EXTENDED_TITLE] = "{lot}: the auction was extended",
    [NOTIF_T_ENDING_TITLE] = "{lot} ends soon",
    [NOTIF_T_ENDS_AT_BODY] = "The auction now ends at {time}.",
    [NOTIF_T_WON_TITLE] = "You won {lot}",
    [NOTIF_T_WON_BODY] = "Your winning bid: {money}.",
    [NOTIF_T_LOST_TITLE] = "{lot} went to another bidder",
    [NOTIF_T_LOST_BODY] = "The winning bid was {money}.",
    [NOTIF_T_LOST_NO_WINNER_BODY] = "The auction closed without a winner.",
    [NOTIF_T_SOLD_TITLE] = "Your lot {lot} sold",
    [NOTIF_T_SOLD_BODY] = "The winning bid: {money}.",
    [NOTIF_T_UNSOLD_TITLE] = "Your lot {lot} closed unsold",
    [NOTIF_T_UNSOLD_NO_BIDS_BODY] = "It closed without bids.",
    [NOTIF_T_UNSOLD_RESERVE_BODY] = "The reserve price was not met.",
    [NOTIF_T_APPROVED_TITLE] = "Your lot {lot} was approved",
    [NOTIF_T_APPROVED_BODY] = "It can be scheduled now.",
    [NOTIF_T_REJECTED_TITLE] = "Your lot {lot} was rejected",
    [NOTIF_T_REJECTED_BODY] = "Reason: {reason}",
    [NOTIF_T_REASON_NOT_GIVEN] = "not given",
    [NOTIF_T_LIVE_TITLE] = "{lot} is live",
    [NOTIF_T_LIVE_BODY] = "Bidding is open.",
    [NOTIF_T_SCHEDULED_TITLE] = "{lot} is scheduled",
    [NOTIF_T_SCHEDULED_BODY] = "The auction has a start time.",
    [NOTIF_T_DEPOSIT_TITLE] = "Deposit received",
    [NOTIF_T_DEPOSIT_BODY] = "{money} was added to your wallet.",
    [NOTIF_T_CAPTURE_TITLE] = "Payment taken from your wallet",
    [NOTIF_T_CAPTURE_BODY] = "{money} was taken for lot {num}.",
    [NOTIF_T_MATCH_TITLE] = "New match: {lot}",
    [NOTIF_T_MATCH_BODY] = "{text}, {region}, {price}; the auction is {state}.",
    [NOTIF_T_A_NEW_LOT] = "a new lot",
    [NOTIF_T_NO_REGION] = "no region",
    [NOTIF_T_FROM_PRICE] = "from {money}",
    [NOTIF_T_NO_START_PRICE] = "no start price",
    [NOTIF_T_STATE_LIVE] = "live",
    [NOTIF_T_STATE_SCHEDULED] = "scheduled",
    [NOTIF_T_EMAIL_OPEN] = "Open in Gavel",
    [NOTIF_T_DIGEST_ONE] = "A new lot matches your searches",
    [NOTIF_T_DIGEST_MANY] = "{num} new lots match your searches",
};

static const char *const ru[NOTIF_T_N] = {
    [NOTIF_T_LOT_N] = "лот {num}",
    [NOTIF_T_BID_PLACED_TITLE] = "Новая ставка: {lot}",
    [NOTIF_T_BID_PLACED_BODY] = "Лидирует ставка {money}.",
    [NOTIF_T_OUTBID_TITLE] = "Вашу ставку перебили: {lot}",
    [NOTIF_T_OUTBID_BODY] = "Лидирующая ставка теперь {money}.",
    [NOTIF_T_EXTENDED_TITLE] = "{lot}: аукцион продлён",
    [NOTIF_T_ENDING_TITLE] = "{lot}: аукцион скоро закончится",
    [NOTIF_T_ENDS_AT_BODY] = "Аукцион теперь заканчивается {time}.",
    [NOTIF_T_WON_TITLE] = "Вы выиграли: {lot}",
    [NOTIF_T_WON_BODY] = "Ваша выигравшая ставка: {money}.",
    [NOTIF_T_LOST_TITLE] = "{lot}: выиграл другой участник",
    [NOTIF_T_LOST_BODY] = "Выигравшая ставка: {money}.",
    [NOTIF_T_LOST_NO_WINNER_BODY] = "Аукцион закрылся без победителя.",
    [NOTIF_T_SOLD_TITLE] = "Ваш лот {lot} продан",
    [NOTIF_T_SOLD_BODY] = "Выигравшая ставка: {money}.",
    [NOTIF_T_UNSOLD_TITLE] = "Ваш лот {lot} не продан",
    [NOTIF_T_UNSOLD_NO_BIDS_BODY] = "Аукцион закрылся без ставок.",
    [NOTIF_T_UNSOLD_RESERVE_BODY] = "Резервная цена не достигнута.",
    [NOTIF_T_APPROVED_TITLE] = "Ваш лот {lot} одобрен",
    [NOTIF_T_APPROVED_BODY] = "Теперь его можно поставить в расписание.",
    [NOTIF_T_REJECTED_TITLE] = "Ваш лот {lot} отклонён",
    [NOTIF_T_REJECTED_BODY] = "Причина: {reason}",
    [NOTIF_T_REASON_NOT_GIVEN] = "не указана",
    [NOTIF_T_LIVE_TITLE] = "{lot}: торги открыты",
    [NOTIF_T_LIVE_BODY] = "Можно делать ставки.",
    [NOTIF_T_SCHEDULED_TITLE] = "{lot}: аукцион запланирован",
    [NOTIF_T_SCHEDULED_BODY] = "У аукциона есть время начала.",
    [NOTIF_T_DEPOSIT_TITLE] = "Пополнение получено",
    [NOTIF_T_DEPOSIT_BODY] = "На ваш кошелёк зачислено {money}.",
    [NOTIF_T_CAPTURE_TITLE] = "Оплата списана с кошелька",
    [NOTIF_T_CAPTURE_BODY] = "Списано {money} за лот {num}.",
    [NOTIF_T_MATCH_TITLE] = "Новое совпадение: {lot}",
    [NOTIF_T_MATCH_BODY] = "{text}, {region}, {price}; аукцион {state}.",
    [NOTIF_T_A_NEW_LOT] = "новый лот",
    [NOTIF_T_NO_REGION] = "регион не указан",
    [NOTIF_T_FROM_PRICE] = "от {money}",
    [NOTIF_T_NO_START_PRICE] = "без стартовой цены",
    [NOTIF_T_STATE_LIVE] = "идёт",
    [NOTIF_T_STATE_SCHEDULED] = "запланирован",
    [NOTIF_T_EMAIL_OPEN] = "Открыть в Gavel",
    [NOTIF_T_DIGEST_ONE] = "Новый лот по вашим поискам",
    [NOTIF_T_DIGEST_MANY] = "Новых лотов по вашим поискам: {num}",
};

static const char *const *const tables[NOTIF_LANG_N] = { en, ru };

int notif_lang_parse(const char *s)
{
    if (s == NULL || s[0] == '\0' || strcmp(s, "en") == 0)
        return NOTIF_LANG_EN;
    if (strcmp(s, "ru") == 0)
        return NOTIF_LANG_RU;
    return -1;
}

/* A bounded output; appends stop at the last whole UTF-8 character. */
typedef struct {
    char *p;
    size_t len, cap;
    bool full; /* something was cut: nothing more goes in */
} out_buf;

static void out_add(out_buf *o, const char *s, size_t n)
{
    if (o->full)
        return;
    if (o->len + n + 1 > o->cap) {
        o->full = true;
        n = o->cap - o->len - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(out_buf *o, const char *s)
{
    out_add(o, s, strlen(s));
}

/* "1234.56 RUB" in English (as always); "1 234,56 ₽" in Russian, with
 * no-break spaces, other currencies by their code. */
static void money_render(out_buf *o, int lang, const Gavel__Common__V1__Money *m)
{
    char s[96];
    if (m == NULL) {
        out_str(o, "-");
        return;
    }
    long long u = (long long)m->units, a = llabs(u);
    if (lang != NOTIF_LANG_RU) {
        snprintf(s, sizeof s, "%s%lld.%02lld %s", u < 0 ? "-" : "", a / 100, a % 100,
                 m->currency);
        out_str(o, s);
        return;
    }
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", a / 100);
    if (u < 0)
        out_str(o, "-");
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out_str(o, "\u00a0");
        out_add(o, &digits[i], 1);
    }
    snprintf(s, sizeof s, ",%02lld\u00a0%s", a % 100,
             strcmp(m->currency, "RUB") == 0 ? "\u20bd" : m->currency);
    out_str(o, s);
}

static void time_render(out_buf *o, int lang, int64_t us)
{
    char s[64];
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    const char *fmt = lang == NOTIF_LANG_RU ? "%d.%m.%Y %H:%M:%S UTC" : "%Y-%m-%d %H:%M:%S UTC";
    if (gmtime_r(&t, &tm) == NULL || strftime(s, sizeof s, fmt, &tm) == 0)
        snprintf(s, sizeof s, "%" PRId64, us);
    out_str(o, s);
}

static void render(out_buf *o, int lang, int id, const notif_text_args *a);

/* One placeholder's value; an unknown name is left as written. */
static void value_render(out_buf *o, int lang, const char *name, size_t n,
                         const notif_text_args *a)
{
    char num[24];
#define IS(s) (n == sizeof s - 1 && memcmp(name, s, n) == 0)
    if (IS("lot")) {
        if (a->lot != NULL && a->lot[0] != '\0')
            out_str(o, a->lot);
        else
            render(o, lang, NOTIF_T_A_NEW_LOT, a);
    } else if (IS("reason")) {
        if (a->text != NULL && a->text[0] != '\0')
            out_str(o, a->text);
        else
            render(o, lang, NOTIF_T_REASON_NOT_GIVEN, a);
    } else if (IS("text"))
        out_str(o, a->text != NULL ? a->text : "");
    else if (IS("money"))
        money_render(o, lang, a->money);
    else if (IS("time"))
        time_render(o, lang, a->at_us);
    else if (IS("num")) {
        snprintf(num, sizeof num, "%" PRId64, a->num);
        out_str(o, num);
    } else if (IS("region")) {
        if (a->region != NULL && a->region[0] != '\0')
            out_str(o, a->region);
        else
            render(o, lang, NOTIF_T_NO_REGION, a);
    } else if (IS("price"))
        render(o, lang, a->money != NULL ? NOTIF_T_FROM_PRICE : NOTIF_T_NO_START_PRICE, a);
    else if (IS("state"))
        render(o, lang, a->state != NULL && strcmp(a->state, "live") == 0
                            ? NOTIF_T_STATE_LIVE : NOTIF_T_STATE_SCHEDULED, a);
    else {
        out_str(o, "{");
        out_add(o, name, n);
        out_str(o, "}");
    }
#undef IS
}

static void render(out_buf *o, int lang, int id, const notif_text_args *a)
{
    const char *s = tables[lang][id];
    while (*s != '\0') {
        const char *open = strchr(s, '{');
        const char *close = open != NULL ? strchr(open, '}') : NULL;
        if (close == NULL) {
            out_str(o, s);
            return;
        }
        out_add(o, s, (size_t)(open - s));
        value_render(o, lang, open + 1, (size_t)(close - open - 1), a);
        s = close + 1;
    }
}

const char *notif_text(char *out, size_t n, int lang, int id, const notif_text_args *a)
{
    static const notif_text_args none = { 0 };
    out_buf o = { .p = out, .cap = n };
    out[0] = '\0';
    if (lang < 0 || lang >= NOTIF_LANG_N)
        lang = NOTIF_LANG_EN;
    if (id >= 0 && id < NOTIF_T_N)
        render(&o, lang, id, a != NULL ? a : &none);
    return out;
}

void notif_texts_fill(notif_texts *t, int title_id, int body_id, const notif_text_args *a)
{
    for (int lang = 0; lang < NOTIF_LANG_N; lang++) {
        notif_text(t->title[lang], sizeof t->title[lang], lang, title_id, a);
        notif_text(t->body[lang], sizeof t->body[lang], lang, body_id, a);
    }
}
