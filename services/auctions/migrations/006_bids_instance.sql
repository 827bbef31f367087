-- The bids instance that holds a lot, chosen by the first ScheduleLot among
-- the instances accepting new lots (docs/architecture.md, "Several bids
-- instances") and never changed. NULL: no record (lots scheduled before
-- this column, or while the registry was empty): lot id % instances.
ALTER TABLE lots ADD COLUMN bids_instance text;
