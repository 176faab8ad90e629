//! Contract of [`ModerationRepository`], with the [`DebateRepository`] whose sessions,
//! seats and messages it acts on (one adapter serves both) and the [`UserRepository`]
//! whose accounts it accepts. Also the parts of `append_message` and `join` that
//! moderation and the session's state decide.

use chrono::{DateTime, TimeDelta, Utc};
use domain_core::{Clock, StoreError};
use domain_debates::{
    ActionFilter, ActionKind, AppendOutcome, DebateRepository, DebateSession, JoinOutcome,
    MessageRemoval, ModerationAction, ModerationRepository, Mute, NewMessage, ScopeRestriction,
    SessionStatus, Side,
};
use domain_identity::UserRepository;
use uuid::Uuid;

use crate::debates::{append, topic_with_live_session};
use crate::{clock, existing_user};

fn action(
    kind: ActionKind,
    s: &DebateSession,
    actor: Uuid,
    target: Option<Uuid>,
    at: DateTime<Utc>,
) -> ModerationAction {
    ModerationAction {
        id: Uuid::new_v4(),
        session_id: s.id,
        scope: s.scope.clone(),
        actor_id: actor,
        target_user_id: target,
        target_seq: None,
        kind,
        reason: Some(format!("{} for a reason", kind.as_str())),
        duration_seconds: None,
        expires_at: None,
        created_at: at,
    }
}

fn mute_of(
    s: &DebateSession,
    actor: Uuid,
    target: Uuid,
    until: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> (Mute, ModerationAction) {
    let mut a = action(ActionKind::Mute, s, actor, Some(target), at);
    a.expires_at = until;
    a.duration_seconds = until.map(|u| (u - at).num_seconds());
    (
        Mute {
            session_id: s.id,
            user_id: target,
            until,
            reason: a.reason.clone(),
            muted_by: actor,
            muted_at: at,
        },
        a,
    )
}

fn argument(s: Uuid, author: Uuid, body: &str, at: DateTime<Utc>) -> NewMessage {
    NewMessage {
        session_id: s,
        author_id: author,
        side: Side::Pro,
        body: body.into(),
        reply_to: None,
        created_at: at,
    }
}

async fn actions_of(moderation: &dyn ModerationRepository, s: Uuid) -> Vec<ModerationAction> {
    moderation
        .actions(
            ActionFilter {
                session_id: Some(s),
                ..ActionFilter::default()
            },
            None,
            100,
        )
        .await
        .unwrap()
}

/// A mute refuses the author's appends until it ends by the clock; muting again
/// replaces the mute; each mute is recorded with the action; unknown users are refused.
pub async fn mutes_replace_and_expire_by_the_clock(
    debates: &dyn DebateRepository,
    moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
) {
    let clock = clock();
    let now = clock.now();
    let (_, s) = topic_with_live_session(debates, now).await;
    let (moderator, debater, other) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    append(debates, argument(s.id, debater, "before", now))
        .await
        .unwrap();

    let until = now + TimeDelta::seconds(60);
    let (mute, a) = mute_of(&s, moderator, debater, Some(until), now);
    moderation.mute(mute.clone(), a.clone(), &[]).await.unwrap();
    assert_eq!(
        moderation.active_mute(s.id, debater, now).await.unwrap(),
        Some(mute.clone())
    );
    assert_eq!(
        moderation.active_mute(s.id, other, now).await.unwrap(),
        None
    );
    assert_eq!(
        debates
            .append_message(argument(s.id, debater, "muted", now), now)
            .await
            .unwrap(),
        AppendOutcome::Muted { until: Some(until) }
    );
    // Others still argue, and the refused append took no number.
    assert_eq!(
        append(debates, argument(s.id, other, "free", now))
            .await
            .unwrap()
            .seq,
        2
    );

    // Muting again replaces: now until lifted.
    let later = now + TimeDelta::seconds(5);
    let (forever, a2) = mute_of(&s, moderator, debater, None, later);
    moderation
        .mute(forever.clone(), a2.clone(), &[])
        .await
        .unwrap();
    let far = now + TimeDelta::days(365);
    assert_eq!(
        moderation.active_mute(s.id, debater, far).await.unwrap(),
        Some(forever)
    );
    assert_eq!(
        debates
            .append_message(argument(s.id, debater, "muted", far), far)
            .await
            .unwrap(),
        AppendOutcome::Muted { until: None }
    );

    // And again: a short one, which ends by the clock alone.
    let latest = later + TimeDelta::seconds(1);
    let short_until = latest + TimeDelta::seconds(10);
    let (short, a3) = mute_of(&s, moderator, debater, Some(short_until), latest);
    moderation.mute(short, a3.clone(), &[]).await.unwrap();
    clock.advance(TimeDelta::seconds(14));
    let t = clock.now();
    assert!(t < short_until);
    assert!(
        moderation
            .active_mute(s.id, debater, t)
            .await
            .unwrap()
            .is_some()
    );
    clock.advance(TimeDelta::seconds(2));
    let t = clock.now();
    assert_eq!(t, short_until);
    assert_eq!(
        moderation.active_mute(s.id, debater, t).await.unwrap(),
        None,
        "a mute is over at its `until`"
    );
    assert_eq!(
        append(debates, argument(s.id, debater, "free again", t))
            .await
            .unwrap()
            .seq,
        3
    );

    // Every mute was recorded, newest first.
    assert_eq!(actions_of(moderation, s.id).await, vec![a3, a2, a]);

    // Unknown target or actor, unknown session: refused, nothing recorded.
    let (m, a) = mute_of(&s, moderator, Uuid::new_v4(), None, t);
    assert!(matches!(
        moderation.mute(m, a, &[]).await,
        Err(StoreError::NotFound)
    ));
    let (m, a) = mute_of(&s, Uuid::new_v4(), debater, None, t);
    assert!(matches!(
        moderation.mute(m, a, &[]).await,
        Err(StoreError::NotFound)
    ));
    let gone = DebateSession {
        id: Uuid::new_v4(),
        ..s.clone()
    };
    let (m, a) = mute_of(&gone, moderator, debater, None, t);
    assert!(matches!(
        moderation.mute(m, a, &[]).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(actions_of(moderation, s.id).await.len(), 3);
    assert_eq!(
        moderation.active_mute(s.id, debater, t).await.unwrap(),
        None
    );
}

/// Unmuting reports whether a mute was active, and only then records the action.
pub async fn unmute_reports_an_active_mute(
    debates: &dyn DebateRepository,
    moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (_, s) = topic_with_live_session(debates, now).await;
    let (moderator, debater) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let unmute = |at| action(ActionKind::Unmute, &s, moderator, Some(debater), at);
    assert!(
        !moderation.unmute(unmute(now), &[]).await.unwrap(),
        "no mute"
    );

    let (m, a) = mute_of(&s, moderator, debater, None, now);
    moderation.mute(m, a, &[]).await.unwrap();
    let lifted = unmute(now + TimeDelta::seconds(1));
    assert!(moderation.unmute(lifted.clone(), &[]).await.unwrap());
    assert_eq!(
        moderation.active_mute(s.id, debater, now).await.unwrap(),
        None
    );
    assert!(
        !moderation
            .unmute(unmute(now + TimeDelta::seconds(2)), &[])
            .await
            .unwrap(),
        "lifted already"
    );

    // An expired mute is not lifted: there was nothing to lift.
    let at = now + TimeDelta::seconds(3);
    let (m, a) = mute_of(&s, moderator, debater, Some(at + TimeDelta::seconds(5)), at);
    moderation.mute(m, a.clone(), &[]).await.unwrap();
    assert!(
        !moderation
            .unmute(unmute(at + TimeDelta::seconds(5)), &[])
            .await
            .unwrap()
    );
    let kinds: Vec<ActionKind> = actions_of(moderation, s.id)
        .await
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        kinds,
        [ActionKind::Mute, ActionKind::Unmute, ActionKind::Mute]
    );
    append(
        debates,
        argument(s.id, debater, "free", at + TimeDelta::seconds(6)),
    )
    .await
    .unwrap();
}

/// A removal closes the user's seat and refuses their joins in that session for good,
/// once; other sessions are not affected.
pub async fn removal_bans_and_closes_the_seat(
    debates: &dyn DebateRepository,
    moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (t, s) = topic_with_live_session(debates, now).await;
    let other = crate::debates::live_session(&t, now);
    debates.insert_session(other.clone(), &[]).await.unwrap();
    let (moderator, debater) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    for session in [s.id, other.id] {
        assert!(matches!(
            debates
                .join(session, debater, Side::Pro, None, now)
                .await
                .unwrap(),
            JoinOutcome::Joined(_)
        ));
    }
    assert!(!moderation.is_removed(s.id, debater).await.unwrap());

    let at = now + TimeDelta::seconds(1);
    let removal = action(ActionKind::Remove, &s, moderator, Some(debater), at);
    assert!(
        moderation
            .remove_participant(removal.clone(), &[])
            .await
            .unwrap()
    );
    assert!(moderation.is_removed(s.id, debater).await.unwrap());
    assert_eq!(
        debates.seat(s.id, debater).await.unwrap(),
        None,
        "seat closed"
    );
    assert!(
        debates
            .participants(s.id, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "no active seat"
    );
    assert!(
        debates.ever_seated(s.id, debater).await.unwrap(),
        "the seat they had still counts (they may vote)"
    );
    for side in [Side::Pro, Side::Con, Side::Audience] {
        assert_eq!(
            debates.join(s.id, debater, side, None, at).await.unwrap(),
            JoinOutcome::Removed
        );
    }
    assert!(
        !moderation
            .remove_participant(
                action(ActionKind::Remove, &s, moderator, Some(debater), at),
                &[]
            )
            .await
            .unwrap(),
        "removed once"
    );
    assert_eq!(actions_of(moderation, s.id).await, vec![removal]);

    // The other session keeps them.
    assert!(!moderation.is_removed(other.id, debater).await.unwrap());
    assert!(debates.seat(other.id, debater).await.unwrap().is_some());

    // Unknown target, actor or session.
    for (session, actor, target) in [
        (s.clone(), moderator, Uuid::new_v4()),
        (s.clone(), Uuid::new_v4(), existing_user(users, now).await.0),
        (
            DebateSession {
                id: Uuid::new_v4(),
                ..s.clone()
            },
            moderator,
            debater,
        ),
    ] {
        let a = action(ActionKind::Remove, &session, actor, Some(target), at);
        assert!(matches!(
            moderation.remove_participant(a, &[]).await,
            Err(StoreError::NotFound)
        ));
    }
    assert_eq!(actions_of(moderation, s.id).await.len(), 1);

    // A warning is a record only.
    let warning = action(ActionKind::Warn, &other, moderator, Some(debater), at);
    moderation.warn(warning.clone(), &[]).await.unwrap();
    assert_eq!(actions_of(moderation, other.id).await, vec![warning]);
    assert!(matches!(
        moderation
            .warn(
                action(
                    ActionKind::Warn,
                    &other,
                    moderator,
                    Some(Uuid::new_v4()),
                    at
                ),
                &[]
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

/// A removed message keeps its text and number, carries the removal, and is removed
/// once; a missing message is told apart.
pub async fn messages_are_removed_once(
    debates: &dyn DebateRepository,
    moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (_, s) = topic_with_live_session(debates, now).await;
    let (moderator, debater) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let first = append(debates, argument(s.id, debater, "rude", now))
        .await
        .unwrap();
    let second = append(debates, argument(s.id, debater, "fine", now))
        .await
        .unwrap();

    let at = now + TimeDelta::seconds(2);
    let mut removal = action(ActionKind::RemoveMessage, &s, moderator, Some(debater), at);
    removal.target_seq = Some(1);
    let MessageRemoval::Removed(removed) = moderation
        .remove_message(removal.clone(), &[])
        .await
        .unwrap()
    else {
        panic!("expected the message removed");
    };
    assert_eq!(removed.body, "rude", "the text is kept");
    let mark = removed.removed.clone().unwrap();
    assert_eq!(
        (mark.at, mark.by, mark.reason.as_deref()),
        (at, moderator, Some("remove_message for a reason"))
    );
    assert_eq!(
        removed,
        domain_debates::Message {
            removed: Some(mark),
            ..first
        }
    );
    assert_eq!(debates.message(s.id, 1).await.unwrap(), Some(removed));
    assert_eq!(debates.message(s.id, 2).await.unwrap(), Some(second));

    let mut again = action(ActionKind::RemoveMessage, &s, moderator, Some(debater), at);
    again.target_seq = Some(1);
    assert_eq!(
        moderation.remove_message(again.clone(), &[]).await.unwrap(),
        MessageRemoval::AlreadyRemoved
    );
    again.target_seq = Some(3);
    assert_eq!(
        moderation.remove_message(again, &[]).await.unwrap(),
        MessageRemoval::NoSuchMessage
    );
    assert_eq!(actions_of(moderation, s.id).await, vec![removal]);
    // Numbering goes on.
    assert_eq!(
        append(debates, argument(s.id, debater, "next", at))
            .await
            .unwrap()
            .seq,
        3
    );
}

/// Appends need a live session: none before the start, none after the close, and a
/// refused append takes no number. The close opens the voting window.
pub async fn appends_need_a_live_session(
    debates: &dyn DebateRepository,
    _moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (t, live) = topic_with_live_session(debates, now).await;
    let scheduled = DebateSession {
        id: Uuid::new_v4(),
        status: SessionStatus::Scheduled,
        started_at: None,
        ..live.clone()
    };
    debates
        .insert_session(scheduled.clone(), &[])
        .await
        .unwrap();
    let debater = existing_user(users, now).await.0;
    assert_eq!(
        debates
            .append_message(argument(scheduled.id, debater, "early", now), now)
            .await
            .unwrap(),
        AppendOutcome::NotLive
    );
    append(debates, argument(live.id, debater, "one", now))
        .await
        .unwrap();
    let at = now + TimeDelta::seconds(30);
    let closed = debates
        .transition(live.id, SessionStatus::Live, SessionStatus::Closed, at, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.closed_at, Some(at));
    assert_eq!(
        closed.voting_closes_at,
        Some(at + TimeDelta::seconds(600)),
        "closed_at + voting_window_seconds"
    );
    assert_eq!(debates.session(live.id).await.unwrap(), Some(closed));
    assert_eq!(
        debates
            .append_message(argument(live.id, debater, "late", at), at)
            .await
            .unwrap(),
        AppendOutcome::NotLive
    );
    assert_eq!(
        debates
            .messages(live.id, domain_debates::MessageRange::default(), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        debates
            .append_message(argument(Uuid::new_v4(), debater, "x", at), at)
            .await,
        Err(StoreError::NotFound)
    ));

    // A window of its own, changed before the close, is the one that opens.
    let custom = DebateSession {
        id: Uuid::new_v4(),
        voting_window_seconds: 120,
        ..crate::debates::live_session(&t, now)
    };
    debates.insert_session(custom.clone(), &[]).await.unwrap();
    assert_eq!(
        debates.session(custom.id).await.unwrap(),
        Some(custom.clone())
    );
    debates
        .update_session(
            &DebateSession {
                voting_window_seconds: 3600,
                ..custom.clone()
            },
            &[],
        )
        .await
        .unwrap();
    let closed = debates
        .transition(
            custom.id,
            SessionStatus::Live,
            SessionStatus::Closed,
            at,
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.voting_window_seconds, 3600);
    assert_eq!(closed.voting_closes_at, Some(at + TimeDelta::hours(1)));
}

/// Actions list newest first, filtered with AND, in stable keyset pages.
pub async fn actions_filter_and_page(
    debates: &dyn DebateRepository,
    moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let (_, s1) = topic_with_live_session(debates, now).await;
    let (_, s2) = topic_with_live_session(debates, now).await;
    let (mod_a, mod_b, target_a, target_b) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let mut recorded: Vec<ModerationAction> = Vec::new();
    for n in 0..12_i64 {
        let session = if n % 2 == 0 { &s1 } else { &s2 };
        let actor = if n % 3 == 0 { mod_a } else { mod_b };
        let target = if n % 4 < 2 { target_a } else { target_b };
        // Pairs share a time: order among equal times is by id.
        let at = now + TimeDelta::seconds(n / 2);
        let a = action(ActionKind::Warn, session, actor, Some(target), at);
        moderation.warn(a.clone(), &[]).await.unwrap();
        recorded.push(a);
    }
    let mut newest_first = recorded.clone();
    newest_first.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.id)));

    let mine = |a: &ModerationAction| a.session_id == s1.id || a.session_id == s2.id;
    let list = async |filter: ActionFilter, limit: u32| -> Vec<ModerationAction> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = moderation
                .actions(filter.clone(), after, limit)
                .await
                .unwrap();
            assert!(page.len() <= limit as usize);
            all.extend(page.iter().cloned());
            if page.len() < limit as usize {
                return all;
            }
            after = page.last().map(|a| a.id);
        }
    };
    for (filter, keep) in [
        (
            ActionFilter {
                session_id: Some(s1.id),
                ..ActionFilter::default()
            },
            Box::new(|a: &ModerationAction| a.session_id == s1.id)
                as Box<dyn Fn(&ModerationAction) -> bool>,
        ),
        (
            ActionFilter {
                scope: Some(s2.scope.clone()),
                ..ActionFilter::default()
            },
            Box::new(|a: &ModerationAction| a.session_id == s2.id),
        ),
        (
            ActionFilter {
                actor_id: Some(mod_a),
                ..ActionFilter::default()
            },
            Box::new(|a: &ModerationAction| a.actor_id == mod_a),
        ),
        // the scopes a reader may read in: only those, or all but those
        (
            ActionFilter {
                readable: Some(ScopeRestriction::Only(vec![s1.scope.clone()])),
                ..ActionFilter::default()
            },
            Box::new(|a: &ModerationAction| a.session_id == s1.id),
        ),
        (
            ActionFilter {
                actor_id: Some(mod_b),
                readable: Some(ScopeRestriction::Only(vec![
                    s1.scope.clone(),
                    s2.scope.clone(),
                ])),
                ..ActionFilter::default()
            },
            Box::new(|a: &ModerationAction| a.actor_id == mod_b),
        ),
        (
            ActionFilter {
                actor_id: Some(mod_a),
                readable: Some(ScopeRestriction::AllBut(vec![s2.scope.clone()])),
                ..ActionFilter::default()
            },
            Box::new(|a: &ModerationAction| a.actor_id == mod_a && a.session_id == s1.id),
        ),
        (
            ActionFilter {
                target_user_id: Some(target_b),
                session_id: Some(s1.id),
                kind: Some(ActionKind::Warn),
                ..ActionFilter::default()
            },
            Box::new(|a: &ModerationAction| {
                a.target_user_id == Some(target_b) && a.session_id == s1.id
            }),
        ),
    ] {
        let expected: Vec<ModerationAction> =
            newest_first.iter().filter(|a| keep(a)).cloned().collect();
        assert!(!expected.is_empty());
        for limit in [1, 2, 5, 100] {
            assert_eq!(list(filter.clone(), limit).await, expected, "{filter:?}");
        }
    }
    let none = ActionFilter {
        session_id: Some(s1.id),
        kind: Some(ActionKind::Mute),
        ..ActionFilter::default()
    };
    assert!(list(none, 10).await.is_empty());
    let nowhere = ActionFilter {
        readable: Some(ScopeRestriction::Only(vec![])),
        ..ActionFilter::default()
    };
    assert!(list(nowhere, 10).await.is_empty());

    // Unfiltered: ours appear in order among whatever else the store holds.
    let everything: Vec<ModerationAction> = list(ActionFilter::default(), 7)
        .await
        .into_iter()
        .filter(mine)
        .collect();
    assert_eq!(everything, newest_first);

    // An unknown cursor gives an empty page.
    assert!(
        moderation
            .actions(ActionFilter::default(), Some(Uuid::new_v4()), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Purging deletes the mutes that ended before the given instant (one ending exactly
/// then stays), keeps mutes until lifted, and reports how many went; what it deletes had
/// stopped applying already.
pub async fn expired_mutes_are_purged(
    debates: &dyn DebateRepository,
    moderation: &dyn ModerationRepository,
    users: &dyn UserRepository,
) {
    let clock = clock();
    let now = clock.now();
    let (_, s) = topic_with_live_session(debates, now).await;
    let moderator = existing_user(users, now).await.0;
    let (short, long, forever) = (
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
        existing_user(users, now).await.0,
    );
    let mut ends = Vec::new();
    for (user, until) in [
        (short, Some(now + TimeDelta::seconds(10))),
        (long, Some(now + TimeDelta::seconds(100))),
        (forever, None),
    ] {
        let (mute, a) = mute_of(&s, moderator, user, until, now);
        moderation.mute(mute, a, &[]).await.unwrap();
        ends.push(until);
    }
    let muted = async |user: Uuid| moderation.active_mute(s.id, user, now).await.unwrap();

    assert_eq!(
        moderation
            .purge_expired_mutes(now + TimeDelta::seconds(10))
            .await
            .unwrap(),
        0,
        "a mute ending exactly then is not before it"
    );
    assert_eq!(
        moderation
            .purge_expired_mutes(now + TimeDelta::seconds(50))
            .await
            .unwrap(),
        1
    );
    assert_eq!(muted(short).await, None, "the ended mute is gone");
    assert!(muted(long).await.is_some() && muted(forever).await.is_some());
    assert_eq!(
        moderation
            .purge_expired_mutes(now + TimeDelta::seconds(50))
            .await
            .unwrap(),
        0,
        "nothing twice"
    );
    assert_eq!(
        moderation
            .purge_expired_mutes(now + TimeDelta::days(365))
            .await
            .unwrap(),
        1
    );
    assert_eq!(muted(long).await, None);
    assert_eq!(
        muted(forever).await.map(|m| m.until),
        Some(None),
        "a mute until lifted stays"
    );
    // The ended mute is gone for good: an append at a time it covered goes through.
    append(debates, argument(s.id, short, "free again", now))
        .await
        .unwrap();
}
