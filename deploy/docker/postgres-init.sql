-- Runs once, when the compose postgres volume is empty
-- (/docker-entrypoint-initdb.d). One database per Gavel service, owned by
-- the gavel role the image creates from POSTGRES_USER. Each daemon creates
-- its own tables through its embedded migrations at start-up.
CREATE DATABASE gavel_users;
CREATE DATABASE gavel_auctions;
CREATE DATABASE gavel_bids;
CREATE DATABASE gavel_search;
CREATE DATABASE gavel_payments;
CREATE DATABASE gavel_notifications;
CREATE DATABASE gavel_streaming;
