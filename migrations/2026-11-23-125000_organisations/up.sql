-- The organisation tree: institutions contain campuses, campuses contain departments.
-- These units are the scopes of RBAC grants (`institution:<id>`, `campus:<id>`,
-- `department:<id>`) and have members.
--
-- Names are unique per parent ignoring case (the `lower(name)` indexes); the
-- application stores them trimmed, 1 to 200 characters. `created_by` records who made a
-- unit and has no foreign key: it is history, not a relationship.

CREATE TABLE institutions (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_by uuid,
    created_at timestamptz NOT NULL
);

CREATE UNIQUE INDEX institutions_name_lower_key ON institutions (lower(name));

CREATE TABLE campuses (
    id             uuid        PRIMARY KEY,
    institution_id uuid        NOT NULL REFERENCES institutions (id) ON DELETE CASCADE,
    name           text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_by     uuid,
    created_at     timestamptz NOT NULL,
    -- The target of departments' (campus_id, institution_id) foreign key, which keeps a
    -- department's institution that of its campus.
    CONSTRAINT campuses_id_institution_id_key UNIQUE (id, institution_id)
);

-- Also the index for the institution_id foreign key (its leading column).
CREATE UNIQUE INDEX campuses_institution_id_name_lower_key ON campuses (institution_id, lower(name));

CREATE TABLE departments (
    id             uuid        PRIMARY KEY,
    campus_id      uuid        NOT NULL,
    -- The campus's institution, kept here so a department's scope path is one row.
    institution_id uuid        NOT NULL,
    name           text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_by     uuid,
    created_at     timestamptz NOT NULL,
    CONSTRAINT departments_campus_id_institution_id_fkey FOREIGN KEY (campus_id, institution_id)
        REFERENCES campuses (id, institution_id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX departments_campus_id_name_lower_key ON departments (campus_id, lower(name));
-- Serves the foreign key and "the departments of an institution" (its deletion).
CREATE INDEX departments_institution_id_campus_id_idx ON departments (institution_id, campus_id);

-- Members of a unit. The unit is polymorphic, so it has no foreign key: the application
-- deletes a unit's memberships in the transaction that deletes the unit, and locks the
-- unit's row when adding one.
CREATE TABLE org_members (
    unit_kind text        NOT NULL CHECK (unit_kind IN ('institution', 'campus', 'department')),
    unit_id   uuid        NOT NULL,
    user_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Who added them; kept as NULL when that account is deleted.
    added_by  uuid        REFERENCES users (id) ON DELETE SET NULL,
    added_at  timestamptz NOT NULL,
    -- Also serves "the members of a unit, by user id".
    CONSTRAINT org_members_pkey PRIMARY KEY (unit_kind, unit_id, user_id)
);

CREATE INDEX org_members_user_id_idx ON org_members (user_id);
CREATE INDEX org_members_added_by_idx ON org_members (added_by);
