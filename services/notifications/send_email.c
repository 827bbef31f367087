/*
 * The email channel: one message per delivery over SMTP with libcurl, to
 * the address in the user's preferences or else their profile's. The
 * message is multipart/alternative (plain text and HTML, UTF-8), with a
 * Message-ID fixed per notification so a duplicate after a crash is
 * recognisable. Each worker thread keeps its own curl handle, so
 * connections are reused across messages. A NEW_MATCH digest is one such
 * message listing several lots (send_email_digest), with the Message-ID
 * of its first delivery. Its words come from texts.c in the delivery's
 * language (the title and body arrive already in it), named in a
 * Content-Language header.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notif.h"

static __thread CURL *curl_handle; /* this worker's */

/* A growing buffer of message text; the sender reads it back. */
typedef struct {
    char *p;
    size_t len, cap, pos;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_fmt(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_fmt(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        panic("out of memory");
    buf_add(b, s, (size_t)n);
    free(s);
}

/* Text in an HTML body. */
static void buf_html(buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&': buf_str(b, "&amp;"); break;
        case '<': buf_str(b, "&lt;"); break;
        case '>': buf_str(b, "&gt;"); break;
        case '"': buf_str(b, "&quot;"); break;
        case '\'': buf_str(b, "&#39;"); break;
        default: buf_add(b, s, 1);
        }
    }
}

/* A header value in RFC 2047 form (UTF-8, base64), for any text. */
static void buf_encoded_word(buf *b, const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    buf_fmt(b, "=?UTF-8?B?%s?=", out);
    free(out);
}

static bool address_ok(const char *a)
{
    return a[0] != '\0' && strlen(a) < 320 && strpbrk(a, "\r\n<>\" ") == NULL &&
           strchr(a, '@') != NULL;
}

static const char *lang_tag(int lang)
{
    return lang == NOTIF_LANG_RU ? "ru" : "en";
}

static void build_message(buf *b, const notif_delivery *d)
{
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    long long nid = (long long)d->notification_id;
    buf_fmt(b, "Date: %s\r\nFrom: Gavel <%s>\r\nTo: <%s>\r\nSubject: ", date, notif.smtp_from,
            d->email);
    buf_encoded_word(b, d->title);
    buf_fmt(b, "\r\nMessage-ID: <notification-%lld@gavel>\r\nMIME-Version: 1.0\r\n"
               "X-Gavel-Notification-Id: %lld\r\nX-Gavel-Event-Id: %s\r\n"
               "X-Gavel-Kind: %s\r\nContent-Language: %s\r\n"
               "Content-Type: multipart/alternative; boundary=\"gavel-%lld\"\r\n\r\n",
            nid, nid, d->event_id, notif_kind_name(d->kind), lang_tag(d->lang), nid);
    buf_fmt(b, "--gavel-%lld\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n\r\n%s\r\n",
            nid, d->title, d->body);
    if (d->link[0] != '\0')
        buf_fmt(b, "\r\n%s%s\r\n", notif.web_url, d->link);
    buf_fmt(b, "\r\n--gavel-%lld\r\nContent-Type: text/html; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n<html><body><h2>",
            nid);
    buf_html(b, d->title);
    buf_str(b, "</h2>\r\n<p>");
    buf_html(b, d->body);
    buf_str(b, "</p>\r\n");
    if (d->link[0] != '\0') {
        char open[64];
        buf_str(b, "<p><a href=\"");
        buf_html(b, notif.web_url);
        buf_html(b, d->link);
        buf_str(b, "\">");
        buf_html(b, notif_text(open, sizeof open, d->lang, NOTIF_T_EMAIL_OPEN, NULL));
        buf_str(b, "</a></p>\r\n");
    }
    buf_fmt(b, "</body></html>\r\n\r\n--gavel-%lld--\r\n", nid);
}

static size_t read_cb(char *out, size_t size, size_t nitems, void *arg)
{
    buf *b = arg;
    size_t want = size * nitems, left = b->len - b->pos;
    size_t n = want < left ? want : left;
    memcpy(out, b->p + b->pos, n);
    b->pos += n;
    return n;
}

/* Sends the message in msg to one address on this worker's handle. */
static int smtp_send(const char *addr, const buf *msg, char *err, size_t errlen)
{
    if (curl_handle == NULL && (curl_handle = curl_easy_init()) == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    CURL *c = curl_handle;
    buf body = *msg;
    body.pos = 0;
    char from[340], to[340];
    snprintf(from, sizeof from, "<%s>", notif.smtp_from);
    snprintf(to, sizeof to, "<%s>", addr);
    struct curl_slist *rcpt = curl_slist_append(NULL, to);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, notif.smtp_url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &body);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)notif.smtp_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)notif.smtp_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(rcpt);
    if (rc != CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        snprintf(err, errlen, "smtp: %s (reply %ld)", curl_easy_strerror(rc), code);
        return -1;
    }
    return 0;
}

int send_email(const notif_delivery *d, char *err, size_t errlen)
{
    if (!address_ok(d->email)) {
        snprintf(err, errlen, "no usable email address");
        return -1;
    }
    buf msg = { 0 };
    build_message(&msg, d);
    int rc = smtp_send(d->email, &msg, err, errlen);
    free(msg.p);
    return rc;
}

/* The digest: one line (plain text) or list item (HTML) per lot. */
static void build_digest(buf *b, const notif_delivery *d, const notif_digest_item *items,
                         size_t n)
{
    char date[64], subject[160];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    long long first = (long long)items[0].delivery_id;
    notif_text_args a = { .num = (int64_t)n };
    notif_text(subject, sizeof subject, d->lang, n == 1 ? NOTIF_T_DIGEST_ONE : NOTIF_T_DIGEST_MANY,
               &a);
    buf_fmt(b, "Date: %s\r\nFrom: Gavel <%s>\r\nTo: <%s>\r\nSubject: ", date, notif.smtp_from,
            d->email);
    buf_encoded_word(b, subject);
    buf_fmt(b, "\r\nMessage-ID: <digest-%lld@gavel>\r\nMIME-Version: 1.0\r\n"
               "X-Gavel-Kind: %s\r\nX-Gavel-Digest-Count: %zu\r\nContent-Language: %s\r\n"
               "Content-Type: multipart/alternative; boundary=\"gavel-digest-%lld\"\r\n\r\n",
            first, notif_kind_name(d->kind), n, lang_tag(d->lang), first);
    buf_fmt(b, "--gavel-digest-%lld\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n%s:\r\n\r\n",
            first, subject);
    for (size_t i = 0; i < n; i++) {
        buf_fmt(b, "- %s\r\n  %s\r\n", items[i].title, items[i].body);
        if (items[i].link[0] != '\0')
            buf_fmt(b, "  %s%s\r\n", notif.web_url, items[i].link);
    }
    buf_fmt(b, "\r\n--gavel-digest-%lld\r\nContent-Type: text/html; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n<html><body><h2>",
            first);
    buf_html(b, subject);
    buf_str(b, "</h2>\r\n<ul>\r\n");
    for (size_t i = 0; i < n; i++) {
        buf_str(b, "<li>");
        if (items[i].link[0] != '\0') {
            buf_str(b, "<a href=\"");
            buf_html(b, notif.web_url);
            buf_html(b, items[i].link);
            buf_str(b, "\">");
            buf_html(b, items[i].title);
            buf_str(b, "</a>");
        } else {
            buf_html(b, items[i].title);
        }
        buf_str(b, "<br>");
        buf_html(b, items[i].body);
        buf_str(b, "</li>\r\n");
    }
    buf_fmt(b, "</ul>\r\n</body></html>\r\n\r\n--gavel-digest-%lld--\r\n", first);
}

int send_email_digest(const notif_delivery *d, const notif_digest_item *items, size_t n,
                      char *err, size_t errlen)
{
    if (!address_ok(d->email)) {
        snprintf(err, errlen, "no usable email address");
        return -1;
    }
    buf msg = { 0 };
    build_digest(&msg, d, items, n);
    int rc = smtp_send(d->email, &msg, err, errlen);
    free(msg.p);
    return rc;
}

void send_email_thread_close(void)
{
    if (curl_handle != NULL)
        curl_easy_cleanup(curl_handle);
    curl_handle = NULL;
}
