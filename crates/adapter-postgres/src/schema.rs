// @generated automatically by Diesel CLI.

diesel::table! {
    campuses (id) {
        id -> Uuid,
        institution_id -> Uuid,
        name -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    debate_activity_daily (day, scope) {
        day -> Date,
        scope -> Text,
        sessions_started -> Int8,
        sessions_closed -> Int8,
        messages -> Int8,
        votes -> Int8,
        participants -> Int8,
        computed_at -> Timestamptz,
    }
}

diesel::table! {
    debate_bans (session_id, user_id) {
        session_id -> Uuid,
        user_id -> Uuid,
        reason -> Nullable<Text>,
        banned_by -> Uuid,
        banned_at -> Timestamptz,
    }
}

diesel::table! {
    debate_messages (session_id, seq) {
        session_id -> Uuid,
        seq -> Int8,
        author_id -> Uuid,
        side -> Text,
        body -> Text,
        reply_to -> Nullable<Int8>,
        created_at -> Timestamptz,
        removed_at -> Nullable<Timestamptz>,
        removed_by -> Nullable<Uuid>,
        removal_reason -> Nullable<Text>,
    }
}

diesel::table! {
    debate_mutes (session_id, user_id) {
        session_id -> Uuid,
        user_id -> Uuid,
        until -> Nullable<Timestamptz>,
        reason -> Nullable<Text>,
        muted_by -> Uuid,
        muted_at -> Timestamptz,
    }
}

diesel::table! {
    debate_participants (id) {
        id -> Int8,
        session_id -> Uuid,
        user_id -> Uuid,
        side -> Text,
        joined_at -> Timestamptz,
        left_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    debate_sessions (id) {
        id -> Uuid,
        topic_id -> Uuid,
        scope -> Text,
        title -> Text,
        scheduled_start -> Timestamptz,
        scheduled_end -> Nullable<Timestamptz>,
        max_per_side -> Nullable<Int4>,
        status -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        last_seq -> Int8,
        voting_window_seconds -> Int4,
        voting_closes_at -> Nullable<Timestamptz>,
        visibility -> Text,
    }
}

diesel::table! {
    debate_topics (id) {
        id -> Uuid,
        title -> Text,
        description -> Text,
        scope -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        visibility -> Text,
    }
}

diesel::table! {
    debate_votes (session_id, user_id, ballot) {
        session_id -> Uuid,
        user_id -> Uuid,
        ballot -> Text,
        side -> Nullable<Text>,
        seq -> Nullable<Int8>,
        cast_at -> Timestamptz,
    }
}

diesel::table! {
    departments (id) {
        id -> Uuid,
        campus_id -> Uuid,
        institution_id -> Uuid,
        name -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    institutions (id) {
        id -> Uuid,
        name -> Text,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        kind -> Text,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        dedupe_key -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    login_sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    moderation_actions (id) {
        id -> Uuid,
        session_id -> Uuid,
        scope -> Text,
        actor_id -> Uuid,
        target_user_id -> Nullable<Uuid>,
        target_seq -> Nullable<Int8>,
        kind -> Text,
        reason -> Nullable<Text>,
        duration_seconds -> Nullable<Int8>,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notification_preferences (user_id, kind) {
        user_id -> Uuid,
        kind -> Text,
        channel -> Text,
    }
}

diesel::table! {
    notifications (id) {
        id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        title -> Text,
        body -> Text,
        link -> Nullable<Text>,
        dedupe_key -> Text,
        created_at -> Timestamptz,
        read_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    org_members (unit_kind, unit_id, user_id) {
        unit_kind -> Text,
        unit_id -> Uuid,
        user_id -> Uuid,
        added_by -> Nullable<Uuid>,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    permission_grants (id) {
        id -> Uuid,
        user_id -> Uuid,
        permission -> Text,
        scope -> Text,
        expires_at -> Nullable<Timestamptz>,
        granted_by -> Nullable<Uuid>,
        granted_at -> Timestamptz,
    }
}

diesel::table! {
    permissions (name) {
        name -> Text,
    }
}

diesel::table! {
    rbac_audit (id) {
        id -> Uuid,
        at -> Timestamptz,
        actor -> Nullable<Uuid>,
        action -> Text,
        target -> Text,
        scope -> Nullable<Text>,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Uuid,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    role_overrides (id) {
        id -> Uuid,
        role -> Text,
        scope -> Text,
        permission -> Text,
        effect -> Text,
    }
}

diesel::table! {
    role_permissions (role, permission) {
        role -> Text,
        permission -> Text,
    }
}

diesel::table! {
    roles (name) {
        name -> Text,
        rank -> Int2,
        description -> Text,
        built_in -> Bool,
        inherits -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_roles (id) {
        id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        scope -> Text,
        expires_at -> Nullable<Timestamptz>,
        granted_by -> Nullable<Uuid>,
        granted_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(campuses -> institutions (institution_id));
diesel::joinable!(debate_bans -> debate_sessions (session_id));
diesel::joinable!(debate_messages -> debate_sessions (session_id));
diesel::joinable!(debate_mutes -> debate_sessions (session_id));
diesel::joinable!(debate_participants -> debate_sessions (session_id));
diesel::joinable!(debate_participants -> users (user_id));
diesel::joinable!(debate_sessions -> debate_topics (topic_id));
diesel::joinable!(debate_sessions -> users (created_by));
diesel::joinable!(debate_topics -> users (created_by));
diesel::joinable!(debate_votes -> debate_sessions (session_id));
diesel::joinable!(debate_votes -> users (user_id));
diesel::joinable!(login_sessions -> users (user_id));
diesel::joinable!(moderation_actions -> debate_sessions (session_id));
diesel::joinable!(notification_preferences -> users (user_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(permission_grants -> permissions (permission));
diesel::joinable!(refresh_tokens -> login_sessions (session_id));
diesel::joinable!(role_overrides -> permissions (permission));
diesel::joinable!(role_overrides -> roles (role));
diesel::joinable!(role_permissions -> permissions (permission));
diesel::joinable!(role_permissions -> roles (role));

diesel::allow_tables_to_appear_in_same_query!(
    campuses,
    debate_activity_daily,
    debate_bans,
    debate_messages,
    debate_mutes,
    debate_participants,
    debate_sessions,
    debate_topics,
    debate_votes,
    departments,
    institutions,
    jobs,
    login_sessions,
    moderation_actions,
    notification_preferences,
    notifications,
    org_members,
    permission_grants,
    permissions,
    rbac_audit,
    refresh_tokens,
    role_overrides,
    role_permissions,
    roles,
    user_roles,
    users,
);
