-- Private by default: a debate is read by the people of its scope unless its institution
-- opens it to the public. Sessions carry their topic's visibility (kept in step by the
-- adapter in the same transaction) so lists filter one table without a join.
ALTER TABLE debate_topics
    ADD COLUMN visibility text NOT NULL DEFAULT 'members'
        CONSTRAINT debate_topics_visibility_check CHECK (visibility IN ('members', 'public'));
ALTER TABLE debate_sessions
    ADD COLUMN visibility text NOT NULL DEFAULT 'members'
        CONSTRAINT debate_sessions_visibility_check CHECK (visibility IN ('members', 'public'));
