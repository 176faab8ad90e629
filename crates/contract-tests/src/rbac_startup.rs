//! Start-up of [`RbacService`] on a real [`RbacRepository`]: seeding the default roles
//! and repairing the protected built-in ones (`super_admin` holds every permission,
//! `guest` reads only, `basic_user` within its ceiling) in a store that an older version
//! or a fuzzer left behind.
//!
//! Unlike the other RBAC contracts this one edits the built-in roles themselves, so it
//! needs a store of its own (every harness gives each test a fresh one).

use std::collections::BTreeSet;
use std::sync::Arc;

use adapter_memory::{MemoryInvalidationBus, MemoryOrgRepository, MemorySubjectCache};
use domain_core::Clock;
use domain_identity::UserRepository;
use domain_rbac::{
    AuditFilter, AuditRecord, Effect, Invalidation, Override, Permission, RbacRepository,
    RbacService, ResourceType, RoleTemplate, Scope, default_roles, names,
};
use uuid::Uuid;

use crate::clock;

fn p(text: &str) -> Permission {
    text.parse().unwrap()
}

fn audit(action: &str, target: &str) -> AuditRecord {
    AuditRecord {
        id: Uuid::new_v4(),
        at: clock().now(),
        actor: Some(Uuid::new_v4()),
        action: action.to_owned(),
        target: target.to_owned(),
        scope: None,
        before: None,
        after: None,
        request_id: None,
    }
}

async fn role(repo: &dyn RbacRepository, name: &str) -> RoleTemplate {
    repo.roles()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap()
}

async fn repairs(repo: &dyn RbacRepository) -> Vec<AuditRecord> {
    let mut found = Vec::new();
    for action in ["role.repair", "override.repair"] {
        let filter = AuditFilter {
            action: Some(action.into()),
            ..AuditFilter::default()
        };
        found.extend(repo.list_audit(filter, None, 100).await.unwrap());
    }
    found
}

/// One instance starting on `repo`, and the bus it announces on.
async fn start(
    repo: &Arc<dyn RbacRepository>,
    users: &Arc<dyn UserRepository>,
) -> (RbacService, tokio::sync::broadcast::Receiver<Invalidation>) {
    let bus = Arc::new(MemoryInvalidationBus::new());
    let heard = bus.subscribe();
    let svc = RbacService::new(
        repo.clone(),
        Arc::new(MemoryOrgRepository::new(users.clone())),
        Arc::new(MemorySubjectCache::new()),
        bus,
        Arc::new(clock()),
    );
    svc.init().await.unwrap();
    (svc, heard)
}

/// A deployment whose `super_admin` lacks permissions (the `job` resource type came
/// later; a fuzzer took `role.read`), whose `guest` was given a write and which holds
/// overrides no edit may now make, gets the rules back when an instance starts: each
/// repair audited without an actor and announced; roles an operator edited within the
/// rules, and other overrides, are left alone; a second start repairs nothing.
pub async fn start_up_repairs_protected_roles(
    repo: Arc<dyn RbacRepository>,
    users: Arc<dyn UserRepository>,
) {
    let (_, _) = start(&repo, &users).await;
    let all: BTreeSet<Permission> = Permission::all().collect();
    assert_eq!(role(&*repo, names::SUPER_ADMIN).await.permissions, all);

    // what an older version and a fuzzing run left behind
    let old_super: BTreeSet<Permission> = all
        .iter()
        .copied()
        .filter(|x| x.resource != ResourceType::Job && *x != p("role.read"))
        .collect();
    repo.set_role_permissions(
        names::SUPER_ADMIN,
        old_super,
        audit("role.update", "role:super_admin"),
    )
    .await
    .unwrap();
    let guest_default = default_roles()
        .into_iter()
        .find(|r| r.name == names::GUEST)
        .unwrap();
    let mut wrecked_guest = guest_default.permissions.clone();
    wrecked_guest.insert(p("exam.delete"));
    repo.set_role_permissions(
        names::GUEST,
        wrecked_guest,
        audit("role.update", "role:guest"),
    )
    .await
    .unwrap();
    repo.set_role_permissions(
        names::TEACHER,
        BTreeSet::new(),
        audit("role.update", "role:teacher"),
    )
    .await
    .unwrap();
    let overrides = [
        (names::SUPER_ADMIN, "audit.read", Effect::Deny),
        (names::GUEST, "debate_topic.update", Effect::Allow),
        (names::STUDENT, "message.create", Effect::Deny),
    ]
    .map(|(role, permission, effect)| Override {
        id: Uuid::new_v4(),
        role: role.into(),
        scope: Scope::Global,
        permission: p(permission),
        effect,
    });
    for o in &overrides {
        repo.insert_override(
            o.clone(),
            audit("override.create", &format!("role:{}", o.role)),
        )
        .await
        .unwrap();
    }
    assert!(repairs(&*repo).await.is_empty());

    // another instance starts
    let (svc, mut heard) = start(&repo, &users).await;
    assert_eq!(role(&*repo, names::SUPER_ADMIN).await.permissions, all);
    assert_eq!(role(&*repo, names::GUEST).await, guest_default);
    assert!(
        role(&*repo, names::TEACHER).await.permissions.is_empty(),
        "an operator's edit within the rules stays"
    );
    let left: Vec<Uuid> = repo
        .overrides()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(left, [overrides[2].id], "only the lawful override stays");
    let trail = repairs(&*repo).await;
    let mut seen: Vec<(String, String)> = trail
        .iter()
        .map(|r| (r.action.clone(), r.target.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("override.repair".to_owned(), "role:guest".to_owned()),
            ("override.repair".to_owned(), "role:super_admin".to_owned()),
            ("role.repair".to_owned(), "role:guest".to_owned()),
            ("role.repair".to_owned(), "role:super_admin".to_owned()),
        ]
    );
    assert!(trail.iter().all(|r| r.actor.is_none()), "{trail:?}");
    assert_eq!(heard.try_recv().ok(), Some(Invalidation::Policy));
    let policy = svc.policy();
    assert!(
        policy
            .effective_permissions(names::SUPER_ADMIN)
            .is_some_and(|s| s.contains(&p("job.update")))
    );

    // and the next start finds nothing to do
    let (_, mut heard) = start(&repo, &users).await;
    assert_eq!(repairs(&*repo).await.len(), trail.len());
    assert!(
        heard.try_recv().is_err(),
        "nothing repaired, nothing announced"
    );
}
