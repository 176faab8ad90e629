DROP TABLE debate_messages;
DROP TABLE debate_participants;
DROP TABLE debate_sessions;
DROP TABLE debate_topics;
