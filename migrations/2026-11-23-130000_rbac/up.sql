-- RBAC: role templates and their permissions, per-scope overrides, direct permission
-- grants and the append-only audit trail. Role assignments stay in `user_roles`.
--
-- Scopes are stored in their text form (`global`, `institution:<uuid>`, `campus:<uuid>`,
-- `department:<uuid>`) and permissions as `resource.action`, as the domain writes them.
-- `user_roles.role` gets no foreign key to `roles`: identity's bootstrap grant and its
-- tests write roles that are not (yet) templates; a role's assignments are deleted with
-- it by the application, in the same transaction.

-- The permission catalogue (`domain_rbac::Permission::all()`): every resource type times
-- every action. The application tops it up at startup, so a permission added to the
-- code needs no migration; a test keeps this list and the code in step.
CREATE TABLE permissions (
    name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$')
);

INSERT INTO permissions (name)
SELECT r || '.' || a
  FROM unnest(ARRAY[
           'institution', 'campus', 'department', 'course', 'enrollment', 'exam', 'post',
           'notice', 'comment', 'debate_topic', 'debate_session', 'message', 'chat',
           'notification', 'role', 'audit']) AS r,
       unnest(ARRAY[
           'create', 'read', 'update', 'delete', 'manage_members', 'publish',
           'enroll_manage', 'grade_manage', 'role_assign', 'realtime_send',
           'realtime_manage', 'attach_manage']) AS a;

-- Role templates. The built-in ones are inserted by the application at startup (only
-- those missing: an operator may have edited them).
CREATE TABLE roles (
    -- `domain_rbac::valid_role_name`.
    name        text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{1,47}$'),
    rank        smallint    NOT NULL CHECK (rank BETWEEN 0 AND 255),
    description text        NOT NULL,
    -- Built-in roles cannot be deleted (enforced by the service).
    built_in    boolean     NOT NULL DEFAULT false,
    -- Roles whose permissions this one inherits; unknown names give nothing.
    inherits    text[]      NOT NULL DEFAULT '{}' CHECK (array_position(inherits, NULL) IS NULL),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A template's own permissions.
CREATE TABLE role_permissions (
    role       text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission text NOT NULL REFERENCES permissions (name),
    -- Also the index for the role foreign key (its leading column).
    PRIMARY KEY (role, permission)
);

CREATE INDEX role_permissions_permission_idx ON role_permissions (permission);

-- Adjusts one role for one scope and everything inside it; a deny beats any allow.
CREATE TABLE role_overrides (
    id         uuid NOT NULL PRIMARY KEY,
    role       text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    scope      text NOT NULL CHECK (scope ~ '^(global|(institution|campus|department):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
    permission text NOT NULL REFERENCES permissions (name),
    effect     text NOT NULL CHECK (effect IN ('allow', 'deny')),
    -- Also the index for the role foreign key.
    CONSTRAINT role_overrides_role_scope_permission_key UNIQUE (role, scope, permission)
);

CREATE INDEX role_overrides_permission_idx ON role_overrides (permission);

-- One permission granted directly to a user in a scope, usually until a time.
CREATE TABLE permission_grants (
    id         uuid        NOT NULL PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission text        NOT NULL REFERENCES permissions (name),
    scope      text        NOT NULL CHECK (scope ~ '^(global|(institution|campus|department):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
    -- NULL: the grant does not expire. Expired grants stay; decisions skip them.
    expires_at timestamptz,
    -- Who granted it; kept as NULL when that account is deleted.
    granted_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    granted_at timestamptz NOT NULL
);

CREATE INDEX permission_grants_user_id_idx ON permission_grants (user_id);
CREATE INDEX permission_grants_permission_idx ON permission_grants (permission);
CREATE INDEX permission_grants_granted_by_idx ON permission_grants (granted_by);

-- Role assignments: listed by scope (keyset on id) and deleted with their role.
CREATE INDEX user_roles_scope_id_idx ON user_roles (scope, id);
CREATE INDEX user_roles_role_idx ON user_roles (role);

-- The audit trail. No foreign keys: records outlive the users, roles and grants they
-- name. Append-only: the trigger below refuses every UPDATE, DELETE and TRUNCATE.
CREATE TABLE rbac_audit (
    id         uuid        NOT NULL PRIMARY KEY,
    at         timestamptz NOT NULL,
    -- NULL for the command line / bootstrap.
    actor      uuid,
    action     text        NOT NULL CHECK (action <> ''),
    target     text        NOT NULL CHECK (target <> ''),
    scope      text        CHECK (scope ~ '^(global|(institution|campus|department):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
    before     jsonb,
    after      jsonb,
    request_id text
);

-- Newest first, unfiltered and per filter, with the id as tie-breaker (keyset paging).
CREATE INDEX rbac_audit_at_id_idx ON rbac_audit (at DESC, id DESC);
CREATE INDEX rbac_audit_actor_at_id_idx ON rbac_audit (actor, at DESC, id DESC);
CREATE INDEX rbac_audit_target_at_id_idx ON rbac_audit (target, at DESC, id DESC);
CREATE INDEX rbac_audit_action_at_id_idx ON rbac_audit (action, at DESC, id DESC);
CREATE INDEX rbac_audit_scope_at_id_idx ON rbac_audit (scope, at DESC, id DESC);

CREATE FUNCTION rbac_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'rbac_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER rbac_audit_no_update_or_delete
    BEFORE UPDATE OR DELETE ON rbac_audit
    FOR EACH ROW EXECUTE FUNCTION rbac_audit_append_only();

CREATE TRIGGER rbac_audit_no_truncate
    BEFORE TRUNCATE ON rbac_audit
    FOR EACH STATEMENT EXECUTE FUNCTION rbac_audit_append_only();
