//! Contract between identity's [`GrantSource`] and the [`RbacRepository`] when they are
//! two views of one store of role assignments (`user_roles` in PostgreSQL; one
//! `MemoryRbacRepository` serving both ports in memory): the command line's bootstrap
//! grant counts for RBAC and is audited, and RBAC's assignments show in tokens.

use chrono::Duration;
use domain_core::Clock;
use domain_identity::{GrantSource, RoleGrant, UserRepository};
use domain_rbac::{AuditFilter, AuditRecord, GrantFilter, RbacRepository, RoleAssignment, Scope};
use uuid::Uuid;

use crate::{clock, existing_user};

/// What one store shows through both ports.
pub async fn one_store_of_assignments(
    repo: &dyn RbacRepository,
    grants: &dyn GrantSource,
    users: &dyn UserRepository,
) {
    let now = clock().now();
    let user = existing_user(users, now).await;
    let target = format!("user:{}", user.0);
    let admin = RoleGrant {
        role: "super_admin".into(),
        scope: "global".into(),
    };

    // The bootstrap grant is an RBAC assignment, recorded as the command line's.
    grants.add_grant(user, admin.clone(), now).await.unwrap();
    let roles = repo.subject(user.0).await.unwrap().roles;
    assert_eq!(roles.len(), 1);
    let held = roles[0].clone();
    assert_eq!(
        held,
        RoleAssignment {
            id: held.id,
            user_id: user.0,
            role: "super_admin".into(),
            scope: Scope::Global,
            expires_at: None,
            granted_by: None,
            granted_at: now,
        }
    );
    assert_eq!(repo.assignment(held.id).await.unwrap(), Some(held.clone()));
    let on_user = AuditFilter {
        target: Some(target.clone()),
        ..AuditFilter::default()
    };
    let trail = repo.list_audit(on_user.clone(), None, 100).await.unwrap();
    assert_eq!(trail.len(), 1);
    let record = &trail[0];
    assert_eq!(
        record,
        &AuditRecord {
            id: record.id,
            at: now,
            actor: None,
            action: "grant.create".into(),
            target: target.clone(),
            scope: Some(Scope::Global),
            before: None,
            after: record.after.clone(),
            request_id: Some("cli".into()),
        }
    );
    let after = record.after.clone().unwrap();
    assert_eq!(after["id"], serde_json::json!(held.id));
    assert_eq!(after["role"], "super_admin");
    assert_eq!(after["scope"], "global");

    // Idempotent: still one assignment (the same), one more audit record.
    grants.add_grant(user, admin.clone(), now).await.unwrap();
    assert_eq!(
        repo.subject(user.0).await.unwrap().roles,
        vec![held.clone()]
    );
    assert_eq!(repo.list_audit(on_user, None, 100).await.unwrap().len(), 2);

    // RBAC's assignments are identity's grants while in force.
    let institution = Uuid::new_v4();
    let week = Duration::days(7);
    let moderator = RoleAssignment {
        id: Uuid::new_v4(),
        user_id: user.0,
        role: "moderator".into(),
        scope: Scope::Institution(institution),
        expires_at: Some(now + week),
        granted_by: Some(user.0),
        granted_at: now,
    };
    let audit = AuditRecord {
        id: Uuid::new_v4(),
        at: now,
        actor: Some(user.0),
        action: "grant.create".into(),
        target: target.clone(),
        scope: Some(moderator.scope),
        before: None,
        after: None,
        request_id: None,
    };
    repo.insert_assignment(moderator.clone(), audit, &[])
        .await
        .unwrap();
    let moderates = RoleGrant {
        role: "moderator".into(),
        scope: format!("institution:{institution}"),
    };
    assert_eq!(
        grants.grants_of(user, now).await.unwrap(),
        vec![moderates.clone(), admin.clone()]
    );
    assert_eq!(
        grants.grants_of(user, now + week).await.unwrap(),
        vec![admin.clone()],
        "expired for identity"
    );
    assert_eq!(
        repo.subject(user.0).await.unwrap().roles.len(),
        2,
        "RBAC keeps expired assignments; decisions skip them"
    );

    // Identity's scopes are free text; one the domain cannot read grants nothing there.
    let odd = RoleGrant {
        role: "judge".into(),
        scope: "debate:1".into(),
    };
    // (A second later, so that its audit record is the newest.)
    grants
        .add_grant(user, odd.clone(), now + Duration::seconds(1))
        .await
        .unwrap();
    assert!(grants.grants_of(user, now).await.unwrap().contains(&odd));
    let subject = repo.subject(user.0).await.unwrap();
    assert!(subject.roles.iter().all(|a| a.role != "judge"));
    let listed = repo
        .list_assignments(
            GrantFilter {
                user_id: Some(user.0),
                scope: None,
                readable: None,
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(listed, subject.roles);
    let judge_audit = repo
        .list_audit(
            AuditFilter {
                target: Some(target),
                actor: None,
                ..AuditFilter::default()
            },
            None,
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        judge_audit[0].scope, None,
        "an unreadable scope is not recorded as one"
    );
    assert_eq!(judge_audit[0].after.as_ref().unwrap()["scope"], "debate:1");
}
