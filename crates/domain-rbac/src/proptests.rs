//! Property tests of the pure engine ([`decide`] and [`may_assign`]) over random
//! organisation trees, policies built from [`default_roles`] with random overrides, random
//! users and grants, and random times.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

use crate::decision::{AccessRequest, Decision, Reason, decide};
use crate::escalation::{AssignRefusal, may_assign};
use crate::role::names::{
    BASIC_USER, CAMPUS_ADMIN, GUEST, INSTITUTE_ADMIN, STAFF, STUDENT, SUPER_ADMIN, TEACHER,
};
use crate::{
    Action, Effect, Override, Permission, PermissionGrant, Policy, ResourceType, RoleAssignment,
    Scope, ScopePath, Subject, default_roles, perm,
};

// ---------------------------------------------------------------------------------------
// The world: an organisation tree, users, grants, overrides, time.
// ---------------------------------------------------------------------------------------

/// Grants and overrides in these tests are relative to this instant.
fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn at(offset_secs: i64) -> DateTime<Utc> {
    base() + Duration::seconds(offset_secs)
}

/// Users 0.. of the pool.
fn user(i: usize) -> Uuid {
    Uuid::from_u128(0xA000 + i as u128)
}

const USERS: usize = 5;

fn role_names() -> Vec<String> {
    default_roles().into_iter().map(|r| r.name).collect()
}

fn catalogue() -> Vec<Permission> {
    Permission::all().collect()
}

fn ranks() -> BTreeMap<String, u8> {
    default_roles()
        .into_iter()
        .map(|r| (r.name, r.rank))
        .collect()
}

/// Every scope of a small organisation tree, with its path; index 0 is `global`.
#[derive(Debug, Clone)]
struct Org {
    paths: Vec<ScopePath>,
}

impl Org {
    /// `shape[i][c]` is the number of departments of campus `c` of institution `i`.
    fn build(shape: &[Vec<usize>]) -> Self {
        let mut paths = vec![ScopePath::global()];
        let mut n = 0u128;
        let mut next = || {
            n += 1;
            Uuid::from_u128(n)
        };
        for campuses in shape {
            let i = Scope::Institution(next());
            paths.push(ScopePath::new(vec![i]).unwrap());
            for &departments in campuses {
                let c = Scope::Campus(next());
                paths.push(ScopePath::new(vec![c, i]).unwrap());
                for _ in 0..departments {
                    let d = Scope::Department(next());
                    paths.push(ScopePath::new(vec![d, c, i]).unwrap());
                }
            }
        }
        Self { paths }
    }

    fn path(&self, ix: &Index) -> &ScopePath {
        ix.get(&self.paths)
    }

    fn scope(&self, ix: &Index) -> Scope {
        self.path(ix).target()
    }

    /// The paths of `institution` and of every scope inside it.
    fn under(&self, institution: Scope) -> impl Iterator<Item = &ScopePath> {
        self.paths.iter().filter(move |p| p.is_within(&institution))
    }

    fn institutions(&self) -> Vec<Scope> {
        self.paths
            .iter()
            .map(ScopePath::target)
            .filter(|s| matches!(s, Scope::Institution(_)))
            .collect()
    }
}

fn shape() -> impl Strategy<Value = Vec<Vec<usize>>> {
    vec(vec(0usize..=2, 1..=2), 1..=3)
}

/// A grant before it is placed in a tree.
#[derive(Debug, Clone)]
enum RawGrant {
    Role {
        role: Index,
        scope: Index,
        /// Expiry, relative to [`base`].
        expires: Option<i64>,
    },
    Permission {
        permission: Index,
        scope: Index,
        expires: Option<i64>,
    },
}

fn raw_grant() -> impl Strategy<Value = RawGrant> {
    let expires = prop::option::of(-200i64..2_000);
    prop_oneof![
        3 => (any::<Index>(), any::<Index>(), expires.clone())
            .prop_map(|(role, scope, expires)| RawGrant::Role { role, scope, expires }),
        1 => (any::<Index>(), any::<Index>(), expires).prop_map(|(permission, scope, expires)| {
            RawGrant::Permission { permission, scope, expires }
        }),
    ]
}

/// An override before it is placed in a tree.
#[derive(Debug, Clone)]
struct RawOverride {
    role: Index,
    scope: Index,
    permission: Index,
    deny: bool,
}

fn raw_override() -> impl Strategy<Value = RawOverride> {
    (
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
        any::<bool>(),
    )
        .prop_map(|(role, scope, permission, deny)| RawOverride {
            role,
            scope,
            permission,
            deny,
        })
}

/// Places grants and overrides in a tree.
struct Resolver<'a> {
    org: &'a Org,
    roles: Vec<String>,
    perms: Vec<Permission>,
    next_id: u128,
}

impl<'a> Resolver<'a> {
    fn new(org: &'a Org) -> Self {
        Self {
            org,
            roles: role_names(),
            perms: catalogue(),
            next_id: 0,
        }
    }

    fn id(&mut self) -> Uuid {
        self.next_id += 1;
        Uuid::from_u128(0xB000_0000 + self.next_id)
    }

    fn add(&mut self, subject: &mut Subject, g: &RawGrant) {
        let Some(user_id) = subject.user_id else {
            return;
        };
        match g {
            RawGrant::Role {
                role,
                scope,
                expires,
            } => {
                let a = RoleAssignment {
                    id: self.id(),
                    user_id,
                    role: role.get(&self.roles).clone(),
                    scope: self.org.scope(scope),
                    expires_at: expires.map(at),
                    granted_by: None,
                    granted_at: base(),
                };
                subject.roles.push(a);
            }
            RawGrant::Permission {
                permission,
                scope,
                expires,
            } => {
                let g = PermissionGrant {
                    id: self.id(),
                    user_id,
                    permission: *permission.get(&self.perms),
                    scope: self.org.scope(scope),
                    expires_at: expires.map(at),
                    granted_by: None,
                    granted_at: base(),
                };
                subject.permissions.push(g);
            }
        }
    }

    fn subject(&mut self, user_id: Uuid, grants: &[RawGrant]) -> Subject {
        let mut s = Subject::user(user_id, vec![], vec![]);
        for g in grants {
            self.add(&mut s, g);
        }
        s
    }

    fn overrides(&mut self, raw: &[RawOverride]) -> Vec<Override> {
        raw.iter()
            .map(|o| Override {
                id: self.id(),
                role: o.role.get(&self.roles).clone(),
                scope: self.org.scope(&o.scope),
                permission: *o.permission.get(&self.perms),
                effect: if o.deny { Effect::Deny } else { Effect::Allow },
            })
            .collect()
    }
}

fn policy(overrides: Vec<Override>) -> Policy {
    Policy::new(default_roles(), overrides, 1)
}

/// Asks about a resource open to the public, where the implicit roles read too: the
/// properties below about roles and overrides hold whatever the visibility.
fn ask(
    policy: &Policy,
    subject: &Subject,
    permission: Permission,
    target: &ScopePath,
    owner: Option<Uuid>,
    now: DateTime<Utc>,
) -> Decision {
    ask_as(policy, subject, permission, target, owner, now, true)
}

/// Asks about a resource private to its scope (the default).
fn ask_private(
    policy: &Policy,
    subject: &Subject,
    permission: Permission,
    target: &ScopePath,
    owner: Option<Uuid>,
    now: DateTime<Utc>,
) -> Decision {
    ask_as(policy, subject, permission, target, owner, now, false)
}

fn ask_as(
    policy: &Policy,
    subject: &Subject,
    permission: Permission,
    target: &ScopePath,
    owner: Option<Uuid>,
    now: DateTime<Utc>,
    public: bool,
) -> Decision {
    let request = AccessRequest::new(permission, target)
        .owned_by(owner)
        .public(public);
    decide(policy, subject, &request, now)
}

/// What an implicit role gives at `target`, computed from the raw overrides (not through
/// [`Policy::role_verdict`]): `(allowed, denied by an override)`.
fn implicit_model(
    templates: &Policy,
    overrides: &[Override],
    role: &str,
    permission: Permission,
    target: &ScopePath,
) -> (bool, bool) {
    let applies = |effect: Effect| {
        overrides.iter().any(|o| {
            o.role == role
                && o.permission == permission
                && o.effect == effect
                && target.scopes().contains(&o.scope)
        })
    };
    let template = templates
        .effective_permissions(role)
        .is_some_and(|p| p.contains(&permission));
    let denied = applies(Effect::Deny);
    (!denied && (template || applies(Effect::Allow)), denied)
}

const OWNER_ACTIONS: [Action; 6] = [
    Action::Read,
    Action::Update,
    Action::Delete,
    Action::Publish,
    Action::ManageMembers,
    Action::AttachManage,
];

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Without overrides of the implicit roles, an anonymous caller is allowed exactly what
    /// the guest template contains, and a signed-in user without grants (who does not own
    /// the resource) exactly what basic_user contains (it inherits guest).
    #[test]
    fn no_grant_allows_only_the_implicit_roles(
        shape in shape(),
        overrides in vec(raw_override(), 0..8),
        now in 0i64..1_000,
        who in 0..USERS,
        owner in prop::option::of(0..USERS),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let overrides: Vec<Override> = r
            .overrides(&overrides)
            .into_iter()
            .filter(|o| o.role != GUEST && o.role != BASIC_USER)
            .collect();
        let p = policy(overrides);
        let guest = p.effective_permissions(GUEST).unwrap().clone();
        let basic = p.effective_permissions(BASIC_USER).unwrap().clone();
        prop_assert!(guest.is_subset(&basic));
        let owner = owner.map(user);
        let anonymous = Subject::anonymous();
        let bare = Subject::user(user(who), vec![], vec![]);
        for target in &org.paths {
            for permission in Permission::all() {
                let d = ask(&p, &anonymous, permission, target, owner, at(now));
                prop_assert_eq!(d.allowed, guest.contains(&permission), "{} {:?}", permission, d);
                if d.allowed {
                    prop_assert_eq!(
                        d.reason,
                        Reason::Role { role: GUEST.into(), scope: Scope::Global, grant_id: None }
                    );
                } else {
                    prop_assert_eq!(d.reason, Reason::NoGrant);
                }

                let d = ask(&p, &bare, permission, target, owner, at(now));
                // Without a grant or membership, ownership holds only at the global scope.
                let owns = owner == Some(user(who))
                    && OWNER_ACTIONS.contains(&permission.action)
                    && target.target() == Scope::Global;
                prop_assert_eq!(d.allowed, owns || basic.contains(&permission), "{} {:?}", permission, d);
                if owns {
                    prop_assert_eq!(d.reason, Reason::Ownership);
                } else if !d.allowed {
                    prop_assert_eq!(d.reason, Reason::NoGrant);
                }
            }
        }
    }

    /// With overrides of the implicit roles too, a caller without grants gets what the
    /// implicit roles give after those overrides (checked against a model of the rules).
    #[test]
    fn no_grant_follows_the_overrides_of_the_implicit_roles(
        shape in shape(),
        overrides in vec(raw_override(), 0..12),
        implicit in vec((any::<bool>(), any::<Index>(), any::<Index>(), any::<bool>()), 0..12),
        now in 0i64..1_000,
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let mut overrides = r.overrides(&overrides);
        let perms = catalogue();
        for (guest, scope, permission, deny) in &implicit {
            overrides.push(Override {
                id: r.id(),
                role: if *guest { GUEST } else { BASIC_USER }.into(),
                scope: org.scope(scope),
                permission: *permission.get(&perms),
                effect: if *deny { Effect::Deny } else { Effect::Allow },
            });
        }
        let p = policy(overrides.clone());
        let templates = policy(vec![]);
        let anonymous = Subject::anonymous();
        let bare = Subject::user(user(0), vec![], vec![]);
        for target in &org.paths {
            for permission in Permission::all() {
                let (g_allow, g_deny) =
                    implicit_model(&templates, &overrides, GUEST, permission, target);
                let (b_allow, b_deny) =
                    implicit_model(&templates, &overrides, BASIC_USER, permission, target);

                let d = ask(&p, &anonymous, permission, target, None, at(now));
                prop_assert_eq!(d.allowed, g_allow, "{} {:?}", permission, d);
                if !g_allow {
                    let by_override = matches!(d.reason, Reason::DeniedByOverride { .. });
                    prop_assert_eq!(by_override, g_deny, "{:?}", d);
                }

                let d = ask(&p, &bare, permission, target, None, at(now));
                prop_assert_eq!(d.allowed, b_allow || g_allow, "{} {:?}", permission, d);
                if !d.allowed {
                    let by_override = matches!(d.reason, Reason::DeniedByOverride { .. });
                    prop_assert_eq!(by_override, b_deny || g_deny, "{:?}", d);
                }
            }
        }
    }

    /// An expired grant (expires_at <= now), role or permission, changes no decision.
    #[test]
    fn expired_grants_change_nothing(
        shape in shape(),
        overrides in vec(raw_override(), 0..8),
        grants in vec(raw_grant(), 0..5),
        mut extra in raw_grant(),
        ago in 0i64..500,
        position in any::<Index>(),
        now in 0i64..1_000,
        owner in prop::option::of(0..USERS),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let p = policy(r.overrides(&overrides));
        let without = r.subject(user(0), &grants);
        match &mut extra {
            RawGrant::Role { expires, .. } | RawGrant::Permission { expires, .. } => {
                *expires = Some(now - ago);
            }
        }
        let mut with = Subject::user(user(0), vec![], vec![]);
        r.add(&mut with, &extra);
        let mut expired = without.clone();
        if let Some(a) = with.roles.pop() {
            prop_assert!(!a.is_active(at(now)));
            expired.roles.insert(position.index(expired.roles.len() + 1), a);
        }
        if let Some(g) = with.permissions.pop() {
            prop_assert!(!g.is_active(at(now)));
            expired.permissions.insert(position.index(expired.permissions.len() + 1), g);
        }
        let owner = owner.map(user);
        for target in &org.paths {
            for permission in Permission::all() {
                let a = ask(&p, &without, permission, target, owner, at(now));
                let b = ask(&p, &expired, permission, target, owner, at(now));
                prop_assert_eq!(a, b, "{}", permission);
            }
        }
    }

    /// A grant (role or permission, at scope S) changes no decision at a target whose path
    /// does not contain S.
    #[test]
    fn grants_never_reach_outside_their_scope(
        shape in shape(),
        overrides in vec(raw_override(), 0..8),
        grants in vec(raw_grant(), 0..5),
        extra in raw_grant(),
        now in 0i64..1_000,
        owner in prop::option::of(0..USERS),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let p = policy(r.overrides(&overrides));
        let without = r.subject(user(0), &grants);
        let mut with = without.clone();
        r.add(&mut with, &extra);
        let scope = match &extra {
            RawGrant::Role { scope, .. } | RawGrant::Permission { scope, .. } => org.scope(scope),
        };
        let owner = owner.map(user);
        for target in org.paths.iter().filter(|t| !t.scopes().contains(&scope)) {
            for permission in Permission::all() {
                let a = ask(&p, &without, permission, target, owner, at(now));
                let b = ask(&p, &with, permission, target, owner, at(now));
                prop_assert_eq!(a, b, "{} at {} with a grant in {}", permission, target.target(), scope);
            }
        }
    }

    /// The institute_admin of institution A decides on institution B's resources (and
    /// globally) exactly like the same user without that grant.
    #[test]
    fn institute_admin_of_one_institution_has_nothing_in_another(
        shape in vec(vec(0usize..=2, 1..=2), 2..=3),
        overrides in vec(raw_override(), 0..8),
        grants in vec(raw_grant(), 0..4),
        a in any::<Index>(),
        now in 0i64..1_000,
        owner in prop::option::of(0..USERS),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let p = policy(r.overrides(&overrides));
        let institutions = org.institutions();
        let home = *a.get(&institutions);
        let without = r.subject(user(0), &grants);
        let mut with = without.clone();
        with.roles.push(RoleAssignment {
            id: r.id(),
            user_id: user(0),
            role: INSTITUTE_ADMIN.into(),
            scope: home,
            expires_at: None,
            granted_by: None,
            granted_at: base(),
        });
        let owner = owner.map(user);
        let elsewhere: Vec<&ScopePath> = institutions
            .iter()
            .filter(|i| **i != home)
            .flat_map(|i| org.under(*i))
            .chain(std::iter::once(&org.paths[0]))
            .collect();
        prop_assert!(elsewhere.len() >= 2);
        for target in elsewhere {
            for permission in Permission::all() {
                let x = ask(&p, &without, permission, target, owner, at(now));
                let y = ask(&p, &with, permission, target, owner, at(now));
                prop_assert_eq!(x, y, "{} at {}", permission, target.target());
            }
        }
        // …while in its own institution it does allow something a bare user is denied.
        let own = ScopePath::new(vec![home]).unwrap();
        let bare = Subject::user(user(0), vec![], vec![]);
        let manage = perm(ResourceType::Institution, Action::ManageMembers);
        prop_assert!(!ask(&policy(vec![]), &bare, manage, &own, None, at(now)).allowed);
        let only = Subject::user(user(0), vec![with.roles.last().unwrap().clone()], vec![]);
        prop_assert!(ask(&policy(vec![]), &only, manage, &own, None, at(now)).allowed);
    }

    /// Without overrides, a higher role in a scope allows at least what a lower one allows
    /// there, whatever else the subject holds.
    #[test]
    fn higher_roles_allow_at_least_what_lower_ones_do(
        shape in shape(),
        grants in vec(raw_grant(), 0..4),
        pair in any::<Index>(),
        scope in any::<Index>(),
        expires in prop::option::of(-200i64..2_000),
        now in 0i64..1_000,
        owner in prop::option::of(0..USERS),
    ) {
        const PAIRS: [(&str, &str); 7] = [
            (SUPER_ADMIN, INSTITUTE_ADMIN),
            (INSTITUTE_ADMIN, CAMPUS_ADMIN),
            (CAMPUS_ADMIN, TEACHER),
            (CAMPUS_ADMIN, STAFF),
            (TEACHER, STUDENT),
            (STAFF, STUDENT),
            (SUPER_ADMIN, STUDENT),
        ];
        let (hi, lo) = *pair.get(&PAIRS);
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let p = policy(vec![]);
        prop_assert!(p.rank(hi) > p.rank(lo));
        prop_assert!(p.effective_permissions(lo).unwrap().is_subset(p.effective_permissions(hi).unwrap()));
        let base_subject = r.subject(user(0), &grants);
        let with = |role: &str| {
            let mut s = base_subject.clone();
            s.roles.push(RoleAssignment {
                id: Uuid::from_u128(7),
                user_id: user(0),
                role: role.into(),
                scope: org.scope(&scope),
                expires_at: expires.map(at),
                granted_by: None,
                granted_at: base(),
            });
            s
        };
        let (high, low) = (with(hi), with(lo));
        let owner = owner.map(user);
        for target in &org.paths {
            for permission in Permission::all() {
                let l = ask(&p, &low, permission, target, owner, at(now));
                if l.allowed {
                    let h = ask(&p, &high, permission, target, owner, at(now));
                    prop_assert!(h.allowed, "{} allows {} at {} but {} does not", lo, permission, target.target(), hi);
                }
            }
        }
    }

    /// A deny override (R, S, P) denies P at every target within S to a subject whose only
    /// roles are R (held at scopes covering the target), even with allow overrides of
    /// (R, P), and the reason names the override. P is outside what the implicit roles
    /// give (those are other roles, which an override of R does not touch).
    #[test]
    fn deny_overrides_win(
        shape in shape(),
        overrides in vec(raw_override(), 0..8),
        allow_too in vec(any::<Index>(), 0..3),
        role in any::<Index>(),
        deny_scope in any::<Index>(),
        permission in any::<Index>(),
        held in vec((any::<Index>(), prop::option::of(-200i64..2_000)), 1..4),
        now in 0i64..1_000,
        owner in prop::option::of(1..USERS),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let roles = role_names();
        let role = role.get(&roles).clone();
        let implicit = policy(vec![]).effective_permissions(BASIC_USER).unwrap().clone();
        let candidates: Vec<Permission> = Permission::all().filter(|p| !implicit.contains(p)).collect();
        let permission = *permission.get(&candidates);
        let deny_scope = org.scope(&deny_scope);
        let mut all: Vec<Override> = r
            .overrides(&overrides)
            .into_iter()
            .filter(|o| o.role != GUEST && o.role != BASIC_USER)
            .collect();
        for s in &allow_too {
            all.push(Override { id: r.id(), role: role.clone(), scope: org.scope(s), permission, effect: Effect::Allow });
        }
        all.push(Override { id: r.id(), role: role.clone(), scope: deny_scope, permission, effect: Effect::Deny });
        let p = policy(all.clone());
        let owner = owner.map(user);
        for target in org.paths.iter().filter(|t| t.is_within(&deny_scope)) {
            // R held at scopes covering the target (ancestors or the target itself).
            let chain = target.scopes();
            let assignments: Vec<RoleAssignment> = held
                .iter()
                .map(|(s, expires)| RoleAssignment {
                    id: r.id(),
                    user_id: user(0),
                    role: role.clone(),
                    scope: *s.get(chain),
                    expires_at: expires.map(at),
                    granted_by: None,
                    granted_at: base(),
                })
                .collect();
            let subject = Subject::user(user(0), assignments, vec![]);
            let any_active = subject.roles.iter().any(|a| a.is_active(at(now)));
            let d = ask(&p, &subject, permission, target, owner, at(now));
            prop_assert!(!d.allowed, "{} {} at {}: {:?}", role, permission, target.target(), d);
            if any_active {
                match &d.reason {
                    Reason::DeniedByOverride { role: r, scope } => {
                        prop_assert_eq!(r, &role);
                        prop_assert!(all.iter().any(|o| o.role == role
                            && o.permission == permission
                            && o.effect == Effect::Deny
                            && o.scope == *scope
                            && target.is_within(scope)));
                    }
                    other => prop_assert!(false, "reason {:?}", other),
                }
            }
        }
    }

    /// The same inputs give the same decision, also with a policy rebuilt from the same
    /// data (hash maps are seeded differently per instance).
    #[test]
    fn decide_is_deterministic(
        shape in shape(),
        overrides in vec(raw_override(), 0..8),
        grants in vec(raw_grant(), 0..5),
        targets in vec((any::<Index>(), any::<Index>()), 1..40),
        now in 0i64..1_000,
        owner in prop::option::of(0..USERS),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let overrides = r.overrides(&overrides);
        let (p1, p2) = (policy(overrides.clone()), policy(overrides));
        let subject = r.subject(user(0), &grants);
        let perms = catalogue();
        let owner = owner.map(user);
        for (t, pm) in &targets {
            let (target, permission) = (org.path(t), *pm.get(&perms));
            let first = ask(&p1, &subject, permission, target, owner, at(now));
            prop_assert_eq!(&first, &ask(&p1, &subject, permission, target, owner, at(now)));
            prop_assert_eq!(&first, &ask(&p2, &subject.clone(), permission, target, owner, at(now)));
            for u in 0..USERS {
                let a = may_assign(&p1, &subject, user(u), SUPER_ADMIN, target, at(now));
                prop_assert_eq!(&a, &may_assign(&p2, &subject, user(u), SUPER_ADMIN, target, at(now)));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Escalation: random sequences of assignments.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Step {
    actor: Index,
    target_user: Index,
    role: Index,
    scope: Index,
    expires_in: Option<i64>,
    advance: i64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
        prop::option::of(1i64..3_000),
        0i64..300,
    )
        .prop_map(
            |(actor, target_user, role, scope, expires_in, advance)| Step {
                actor,
                target_user,
                role,
                scope,
                expires_in,
                advance,
            },
        )
}

/// The highest rank among `subject`'s active roles whose scope is on `target`'s path,
/// computed from the default ranks (not through the engine).
fn model_rank(
    ranks: &BTreeMap<String, u8>,
    subject: &Subject,
    target: &ScopePath,
    now: DateTime<Utc>,
) -> u8 {
    subject
        .roles
        .iter()
        .filter(|a| a.expires_at.is_none_or(|t| now < t) && target.scopes().contains(&a.scope))
        .filter_map(|a| ranks.get(&a.role).copied())
        .max()
        .unwrap_or(0)
}

fn model_super_admin(subject: &Subject, now: DateTime<Utc>) -> bool {
    subject.roles.iter().any(|a| {
        a.role == SUPER_ADMIN && a.scope == Scope::Global && a.expires_at.is_none_or(|t| now < t)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Starting from one global super_admin and users with random (bootstrap) grants,
    /// random actors try random assignments; allowed ones are applied. Then: `may_assign`
    /// agrees with the rule; nobody assigns to themselves; every assignment by a
    /// non-super_admin is of a role ranked strictly below the actor's highest role covering
    /// the scope; and a user's highest rank at any target, counting the assignments made
    /// during the run, never exceeds the highest rank their granters held there (or above)
    /// when they granted.
    #[test]
    fn no_sequence_of_assignments_escalates(
        shape in shape(),
        overrides in vec(raw_override(), 0..6),
        bootstrap in vec(vec(raw_grant(), 0..4), USERS - 1),
        steps in vec(step(), 1..60),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let p = policy(r.overrides(&overrides));
        let ranks = ranks();
        let roles = role_names();
        let role_assign = perm(ResourceType::Role, Action::RoleAssign);

        let mut users: Vec<Subject> = vec![Subject::user(
            user(0),
            vec![RoleAssignment {
                id: r.id(),
                user_id: user(0),
                role: SUPER_ADMIN.into(),
                scope: Scope::Global,
                expires_at: None,
                granted_by: None,
                granted_at: base(),
            }],
            vec![],
        )];
        for (i, grants) in bootstrap.iter().enumerate() {
            let only_roles: Vec<RawGrant> = grants
                .iter()
                .filter(|g| matches!(g, RawGrant::Role { .. }))
                // no other super_admin at the start
                .filter(|g| !matches!(g, RawGrant::Role { role, .. } if role.get(&roles) == SUPER_ADMIN))
                .cloned()
                .collect();
            users.push(r.subject(user(i + 1), &only_roles));
        }
        // grant id -> rank the granter held covering the grant's scope when granting
        let mut granted_under: BTreeMap<Uuid, u8> = BTreeMap::new();
        let mut now = base();

        for s in &steps {
            now += Duration::seconds(s.advance);
            let a = s.actor.index(USERS);
            let t = s.target_user.index(USERS);
            let role = s.role.get(&roles).clone();
            let target = org.path(&s.scope).clone();
            let actor = users[a].clone();
            let result = may_assign(&p, &actor, user(t), &role, &target, now);

            let actor_rank = model_rank(&ranks, &actor, &target, now);
            let role_rank = ranks[&role];
            let expected = if a == t {
                Err(AssignRefusal::OwnGrant)
            } else if model_super_admin(&actor, now) {
                Ok(())
            } else if !ask(&p, &actor, role_assign, &target, None, now).allowed {
                Err(AssignRefusal::NotPermitted)
            } else if role_rank >= actor_rank {
                Err(AssignRefusal::RoleTooHigh)
            } else {
                Ok(())
            };
            prop_assert_eq!(&result, &expected, "{} -> {} as {} in {}", a, t, role, target.target());

            if result.is_ok() {
                prop_assert_ne!(a, t);
                if !model_super_admin(&actor, now) {
                    prop_assert!(role_rank < actor_rank, "{} (rank {}) assigned {}", a, actor_rank, role);
                    prop_assert_ne!(role.as_str(), SUPER_ADMIN);
                }
                prop_assert!(role_rank <= actor_rank);
                let id = r.id();
                granted_under.insert(id, actor_rank);
                users[t].roles.push(RoleAssignment {
                    id,
                    user_id: user(t),
                    role,
                    scope: target.target(),
                    expires_at: s.expires_in.map(|e| now + Duration::seconds(e)),
                    granted_by: Some(user(a)),
                    granted_at: now,
                });
            }

            for u in &users {
                for path in &org.paths {
                    let made: Vec<&RoleAssignment> = u
                        .roles
                        .iter()
                        .filter(|x| granted_under.contains_key(&x.id))
                        .filter(|x| x.is_active(now) && path.is_within(&x.scope))
                        .collect();
                    if let Some(top) = made.iter().map(|x| ranks[&x.role]).max() {
                        let bound = made.iter().map(|x| granted_under[&x.id]).max().unwrap_or(0);
                        prop_assert!(top <= bound, "rank {} above granters' {}", top, bound);
                    }
                }
            }
        }
    }
}

/// The actions a bare user may perform on their own resources are exactly the owner
/// actions, whatever the scope; a sanity check of the model above.
#[test]
fn owner_actions_are_the_documented_ones() {
    let org = Org::build(&[vec![1]]);
    let p = policy(vec![]);
    let institutions: Vec<Scope> = org
        .paths
        .iter()
        .filter_map(ScopePath::institution)
        .collect();
    let me = Subject::user(user(0), vec![], vec![]).with_memberships(institutions);
    let basic: BTreeSet<Permission> = p.effective_permissions(BASIC_USER).unwrap().clone();
    for target in &org.paths {
        for permission in Permission::all() {
            let d = ask(&p, &me, permission, target, Some(user(0)), base());
            let expected =
                OWNER_ACTIONS.contains(&permission.action) || basic.contains(&permission);
            assert_eq!(d.allowed, expected, "{permission}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Private by default
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the grants, memberships and overrides, nothing private inside a unit is
    /// read by a caller who holds no active grant and no membership covering it: not
    /// through the implicit roles, not through ownership, not anonymously.
    #[test]
    fn private_reads_need_presence(
        shape in shape(),
        overrides in vec(raw_override(), 0..8),
        grants in vec(raw_grant(), 0..5),
        members in vec(any::<Index>(), 0..3),
        now in 0i64..1_000,
        owner in prop::option::of(0..USERS),
    ) {
        let org = Org::build(&shape);
        let mut r = Resolver::new(&org);
        let p = policy(r.overrides(&overrides));
        let memberships = members.iter().map(|m| org.scope(m)).collect();
        let subject = r.subject(user(0), &grants).with_memberships(memberships);
        let owner = owner.map(user);
        for target in org.paths.iter().filter(|t| t.target() != Scope::Global) {
            let present = subject.present_in(target, at(now));
            for permission in Permission::all().filter(|p| p.action == Action::Read) {
                let d = ask_private(&p, &Subject::anonymous(), permission, target, owner, at(now));
                prop_assert!(!d.allowed, "anonymous {} at {}: {:?}", permission, target.target(), d);
                let d = ask_private(&p, &subject, permission, target, owner, at(now));
                prop_assert!(!d.allowed || present, "{} at {}: {:?}", permission, target.target(), d);
            }
        }
    }

    /// A member of a unit reads what the `member` role allows inside it and, without
    /// grants, nothing private anywhere else.
    #[test]
    fn members_read_inside_their_unit_only(
        shape in shape(),
        member_of in any::<Index>(),
        now in 0i64..1_000,
    ) {
        let org = Org::build(&shape);
        let p = policy(vec![]);
        let unit = org.scope(&member_of);
        let member = p.effective_permissions(crate::role::names::MEMBER).unwrap().clone();
        let subject = Subject::user(user(0), vec![], vec![]).with_memberships(vec![unit]);
        for target in org.paths.iter().filter(|t| t.target() != Scope::Global) {
            for permission in Permission::all().filter(|p| p.action == Action::Read) {
                let d = ask_private(&p, &subject, permission, target, None, at(now));
                let expected = target.is_within(&unit) && member.contains(&permission);
                prop_assert_eq!(d.allowed, expected, "{} at {}: {:?}", permission, target.target(), d);
            }
        }
    }

    /// Ownership lasts as long as the owner's presence: once the only grant covering the
    /// resource has expired, the creator may no longer update or delete it.
    #[test]
    fn ownership_ends_with_the_grant(
        shape in shape(),
        at_scope in any::<Index>(),
        expires in 1i64..1_000,
        now in 0i64..2_000,
    ) {
        let org = Org::build(&shape);
        let p = policy(vec![]);
        let scope = org.scope(&at_scope);
        prop_assume!(scope != Scope::Global);
        let grant = RoleAssignment {
            id: Uuid::from_u128(7),
            user_id: user(0),
            role: STUDENT.into(),
            scope,
            expires_at: Some(at(expires)),
            granted_by: None,
            granted_at: base(),
        };
        let subject = Subject::user(user(0), vec![grant], vec![]);
        let update = perm(ResourceType::DebateTopic, Action::Update);
        for target in org.paths.iter().filter(|t| t.is_within(&scope)) {
            let d = ask_private(&p, &subject, update, target, Some(user(0)), at(now));
            prop_assert_eq!(d.allowed, now < expires, "{:?}", d);
        }
    }
}
