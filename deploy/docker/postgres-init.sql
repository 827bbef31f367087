-- Runs once, when the compose postgres volume is empty
-- (/docker-entrypoint-initdb.d). One database per Gavel service, owned by
-- the gavel role the image creates from POSTGRES_USER; each bids instance
-- has its own (gavel_bids_<GAVEL_BIDS_INSTANCE>). Each daemon creates its
-- own tables through its embedded migrations at start-up. A database added
-- here later is not created on an existing volume: create it by hand
-- (docs/operations.md, "Running with docker compose / Kubernetes").
CREATE DATABASE gavel_users;
CREATE DATABASE gavel_auctions;
CREATE DATABASE gavel_bids_0;
CREATE DATABASE gavel_bids_1;
-- gavel_search takes the image's en_US.utf8 character class, which folds
-- Cyrillic case as the search index needs (docs/search.md).
CREATE DATABASE gavel_search;
CREATE DATABASE gavel_payments;
CREATE DATABASE gavel_notifications;
CREATE DATABASE gavel_streaming;
