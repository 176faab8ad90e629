-- Workers LISTEN on `agora_jobs` and claim at once when it is notified, instead of at
-- their next poll (adapter_postgres::listen_for_jobs). One NOTIFY per inserting
-- statement, sent by PostgreSQL when its transaction commits — so a job recorded in a
-- business transaction (the outbox) wakes workers exactly when it becomes visible, and a
-- rolled-back one wakes nobody. Notifications of one transaction are merged into one.
CREATE FUNCTION jobs_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agora_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify
    AFTER INSERT ON jobs
    FOR EACH STATEMENT
    EXECUTE FUNCTION jobs_notify();
