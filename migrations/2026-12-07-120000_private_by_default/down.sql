DELETE FROM role_overrides WHERE permission LIKE 'job.%';
DELETE FROM permission_grants WHERE permission LIKE 'job.%';
DELETE FROM role_permissions WHERE permission LIKE 'job.%';
DELETE FROM permissions WHERE name LIKE 'job.%';
ALTER TABLE debate_sessions DROP COLUMN visibility;
ALTER TABLE debate_topics DROP COLUMN visibility;
