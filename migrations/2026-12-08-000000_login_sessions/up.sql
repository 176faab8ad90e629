-- "Session" meant two things (a login and a debate); the login one is now called a login
-- session everywhere, the table included. A rename keeps every row, index and reference.
ALTER TABLE auth_sessions RENAME TO login_sessions;
ALTER TABLE login_sessions RENAME CONSTRAINT auth_sessions_pkey TO login_sessions_pkey;
ALTER TABLE login_sessions RENAME CONSTRAINT auth_sessions_user_id_fkey TO login_sessions_user_id_fkey;
ALTER INDEX auth_sessions_user_id_created_at_idx RENAME TO login_sessions_user_id_created_at_idx;
