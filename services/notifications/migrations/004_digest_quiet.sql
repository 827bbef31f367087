-- NEW_MATCH email digests and quiet hours (deliver.c, digest.c).
--
-- A digest delivery is a NEW_MATCH email while GAVEL_NOTIFICATIONS_DIGEST_S
-- is on: due one window after its notification, and sent together with
-- every other pending digest delivery of the user in one email.
ALTER TABLE deliveries ADD COLUMN digest boolean NOT NULL DEFAULT false;
CREATE INDEX deliveries_digest ON deliveries (user_id, id) WHERE digest AND state = 'pending';

-- The end (µs since the epoch) of the quiet hours that hold now_us, or 0
-- when now_us is outside them: qs and qe are minutes after local midnight
-- in tz ('' = UTC), qe before qs spans midnight, qs = qe is no quiet
-- hours. A zone PostgreSQL does not know counts as UTC.
CREATE FUNCTION quiet_until(now_us bigint, qs integer, qe integer, tz text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    zone text := coalesce(nullif(tz, ''), 'UTC');
    local timestamp;
    m integer;
    ends timestamp;
BEGIN
    IF qs = qe THEN
        RETURN 0;
    END IF;
    BEGIN
        local := to_timestamp(now_us / 1e6) AT TIME ZONE zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        zone := 'UTC';
        local := to_timestamp(now_us / 1e6) AT TIME ZONE zone;
    END;
    m := extract(hour FROM local)::integer * 60 + extract(minute FROM local)::integer;
    IF NOT ((qs < qe AND m >= qs AND m < qe) OR (qs > qe AND (m >= qs OR m < qe))) THEN
        RETURN 0;
    END IF;
    ends := date_trunc('day', local) + make_interval(mins => qe);
    IF m >= qe THEN
        ends := ends + interval '1 day';
    END IF;
    RETURN (extract(epoch FROM (ends AT TIME ZONE zone)) * 1000000)::bigint;
END
$$;
