-- Why an autobid stopped (exhausted, cancelled, finished), not only whether
-- it is active: clients are told which.
ALTER TABLE autobids ADD COLUMN status smallint NOT NULL DEFAULT 1;
UPDATE autobids SET status = 3 WHERE NOT active;
