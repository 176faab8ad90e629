-- Private by default: a debate is read by the people of its scope unless its institution
-- opens it to the public. Sessions carry their topic's visibility (kept in step by the
-- adapter in the same transaction) so lists filter one table without a join.
ALTER TABLE debate_topics
    ADD COLUMN visibility text NOT NULL DEFAULT 'members'
        CONSTRAINT debate_topics_visibility_check CHECK (visibility IN ('members', 'public'));
ALTER TABLE debate_sessions
    ADD COLUMN visibility text NOT NULL DEFAULT 'members'
        CONSTRAINT debate_sessions_visibility_check CHECK (visibility IN ('members', 'public'));

-- Also (a data-only change, so it rides with this schema change): background-job
-- operations get permissions of their own (`job.read` to inspect the
-- queue, `job.update` to retry a dead job) instead of borrowing `audit.read`.
INSERT INTO permissions (name)
SELECT 'job.' || a
  FROM unnest(ARRAY[
           'create', 'read', 'update', 'delete', 'manage_members', 'publish',
           'enroll_manage', 'grade_manage', 'role_assign', 'realtime_send',
           'realtime_manage', 'attach_manage']) AS a
ON CONFLICT (name) DO NOTHING;
