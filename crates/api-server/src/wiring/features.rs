//! The domain services of the product's features — debates (with moderation, votes and
//! their analytics), organisations, notifications — wired to the one publish path, and the
//! reactions the job worker runs for their recorded events.

use std::sync::Arc;

use domain_core::Clock;
use domain_notifications::NotificationService;
use domain_org::OrgService;

use super::shared::Shared;
use super::storage::Storage;

/// The features' services.
pub(super) struct Features {
    pub(super) debates: domain_debates::DebateService,
    pub(super) moderation: domain_debates::ModerationService,
    pub(super) voting: domain_debates::VotingService,
    pub(super) analytics: domain_debates::AnalyticsService,
    pub(super) org: OrgService,
    pub(super) notifications: NotificationService,
    pub(super) reactions: crate::reactions::Reactions,
}

/// Builds every feature's service over `storage` and `shared`.
pub(super) fn build(storage: &Storage, shared: &Shared, clock: Arc<dyn Clock>) -> Features {
    // The one publish path: committed events become frames on the topic bus.
    let projector = crate::realtime::Projector::new(
        shared.topic_bus.clone(),
        storage.notification_store.clone(),
    );
    let debates = domain_debates::DebateService::new(storage.debates.clone(), clock.clone())
        .with_events(Arc::new(projector.clone()));
    let notifications = NotificationService::new(
        storage.notification_store.clone(),
        storage.preference_store.clone(),
        shared.unread.clone(),
        clock.clone(),
        Arc::new(projector.clone()),
    );
    let moderation = domain_debates::ModerationService::new(
        storage.debates.clone(),
        storage.moderation.clone(),
        clock.clone(),
    )
    .with_events(Arc::new(projector.clone()));
    let voting = domain_debates::VotingService::new(
        storage.debates.clone(),
        storage.votes.clone(),
        Arc::new(projector.clone()),
        clock.clone(),
    );
    projector.read_tallies_from(voting.clone());
    let analytics = domain_debates::AnalyticsService::new(storage.analytics.clone(), clock.clone());
    let org = OrgService::new(storage.org_repo.clone(), clock.clone());
    // What the recorded events set off, run by the job worker (see `crate::reactions`).
    let reactions = crate::reactions::Reactions::new(crate::reactions::ReactionDeps {
        notifier: crate::reactions::Notifier::new(notifications.clone()).with_email(
            crate::mail::EmailOutbox::new(
                storage.jobs.clone(),
                storage.users.clone(),
                clock.clone(),
            ),
        ),
        debates: debates.clone(),
        voting: voting.clone(),
        org: org.clone(),
        queue: storage.jobs.clone(),
        clock,
    });
    Features {
        debates,
        moderation,
        voting,
        analytics,
        org,
        notifications,
        reactions,
    }
}
