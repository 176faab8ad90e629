ALTER TABLE debate_sessions DROP COLUMN visibility;
ALTER TABLE debate_topics DROP COLUMN visibility;
