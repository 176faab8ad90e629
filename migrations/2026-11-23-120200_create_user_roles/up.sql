-- Role grants (RBAC): `role` held in `scope` (`global`, `institution:<id>`, ...).
CREATE TABLE user_roles (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role <> ''),
    scope      text        NOT NULL CHECK (scope <> ''),
    -- NULL: the grant does not expire.
    expires_at timestamptz,
    -- Who granted it; kept as NULL when that account is deleted.
    granted_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    granted_at timestamptz NOT NULL,
    -- Also the index for the user_id foreign key (its leading column).
    CONSTRAINT user_roles_user_id_role_scope_key UNIQUE (user_id, role, scope)
);

CREATE INDEX user_roles_granted_by_idx ON user_roles (granted_by);
