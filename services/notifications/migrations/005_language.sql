-- The language of a user's email, push and Telegram texts (texts.c).
--
-- A notification keeps its English title and body for the inbox,
-- realtime and webhooks; title_ru and body_ru are written only for a
-- recipient whose language was 'ru' when it was fanned out ('' otherwise),
-- and the email, push and Telegram senders take them when present.
ALTER TABLE preferences ADD COLUMN language text NOT NULL DEFAULT ''
    CHECK (language IN ('', 'en', 'ru'));
ALTER TABLE notifications ADD COLUMN title_ru text NOT NULL DEFAULT '',
    ADD COLUMN body_ru text NOT NULL DEFAULT '';
