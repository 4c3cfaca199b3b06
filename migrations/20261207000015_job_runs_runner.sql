-- Which replica ran each job (issue 32): its host name, the container's id
-- under Docker. Expand only: a nullable column with no default to fill, so a
-- replica still on the previous image (which names no runner) keeps
-- inserting while the new one rolls out beside it.
ALTER TABLE job_runs ADD COLUMN runner VARCHAR(128) NULL AFTER job;
-- The scheduled tick a run belongs to (its fire time, to the second; NULL for
-- a run by hand or at start): every replica's scheduler fires each tick, the
-- first to take the job's lock runs it, and one that gets the lock after it
-- finished finds the tick taken instead of running it twice.
ALTER TABLE job_runs ADD COLUMN tick_at DATETIME NULL AFTER runner,
    ADD UNIQUE KEY job_runs_tick (job, tick_at);
