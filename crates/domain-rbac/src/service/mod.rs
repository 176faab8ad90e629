//! The RBAC use cases: decisions (with caching) and the admin operations (with audit).
//!
//! Caching: a user's grant set is read from an in-process map, then the shared
//! [`SubjectCache`] (Redis), then the [`RbacRepository`] (PostgreSQL). Every change drops
//! the shared entry and is announced on the [`InvalidationBus`]; each instance feeds what
//! it receives to [`RbacService::apply`], which drops its in-process entry. While the
//! feed is down ([`RbacService::set_feed_healthy`]) the in-process map is bypassed, so a
//! lost message can never keep a revoked role alive.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use domain_core::{Clock, DomainEvent, StoreError};
use uuid::Uuid;

use crate::decision::{AccessRequest, decide};
use crate::escalation::{is_super_admin, may_assign};
use crate::permission::{Action, ResourceType, perm};
use crate::role::names::{BASIC_USER, GUEST, MEMBER};
use crate::{
    AuditCursor, AuditFilter, AuditRecord, Decision, Effect, GrantFilter, Invalidation,
    InvalidationBus, Override, Permission, PermissionGrant, Policy, RbacError, RbacEvent,
    RbacRepository, RoleAssignment, RoleTemplate, Scope, ScopeDirectory, ScopePath, ScopeSet,
    Subject, SubjectCache, default_roles, valid_role_name,
};

/// Who is making a change, for decisions and the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// The user, or `None` for an anonymous caller / the command line.
    pub user_id: Option<Uuid>,
    /// The HTTP request id, recorded in the audit trail.
    pub request_id: Option<String>,
}

/// Lifetime of an entry in the shared subject cache; invalidation normally comes first.
/// Also the bound on the one race invalidation cannot close: an instance whose database
/// read began before a change committed elsewhere, and whose cache fill lands after that
/// change's invalidation reached the shared cache but before it reached this instance.
const SHARED_CACHE_TTL_SECS: u64 = 60;

/// Where a caller may read something, as answered by [`RbacService::reach`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Potentially in every scope (the caller holds something globally).
    Everywhere,
    /// Only in these scopes (each listed, with the units inside, and `global`).
    Within(Vec<Scope>),
}

/// The RBAC service. Share it behind an `Arc`.
pub struct RbacService {
    repo: Arc<dyn RbacRepository>,
    scopes: Arc<dyn ScopeDirectory>,
    cache: Arc<dyn SubjectCache>,
    bus: Arc<dyn InvalidationBus>,
    clock: Arc<dyn Clock>,
    policy: RwLock<Arc<Policy>>,
    policy_version: AtomicU64,
    subjects: Mutex<HashMap<Uuid, Arc<Subject>>>,
    paths: Mutex<HashMap<Scope, ScopePath>>,
    local_cache: AtomicBool,
    /// Bumped on every invalidation; a read that started before a bump does not fill the
    /// in-process caches, so a stale grant set can never be put back after it was dropped.
    generation: AtomicU64,
    /// Every change applied on this instance (made here or announced by another), for
    /// whatever holds access open over time (sockets' subscriptions) to recheck at once.
    changes: tokio::sync::broadcast::Sender<Invalidation>,
}

/// Changes buffered per watcher of [`RbacService::changes`]; one that falls further
/// behind gets `Lagged` and should recheck everything.
const CHANGES_QUEUE: usize = 256;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// The [`RbacEvent::RoleGranted`] event of a new assignment, dated when it was granted;
/// handed to the repository with the change (recorded in its transaction, so its
/// reactions run at least once after the commit).
fn role_granted(a: &RoleAssignment) -> DomainEvent {
    DomainEvent::of(&RbacEvent::role_granted(a), a.granted_at)
}

/// The scopes where something of `subject`'s could allow `permission`: its active role
/// assignments, its active direct grants of that permission, and its memberships.
fn held_scopes(
    subject: &Subject,
    permission: Permission,
    now: DateTime<Utc>,
) -> impl Iterator<Item = Scope> + '_ {
    subject
        .roles
        .iter()
        .filter(move |a| a.is_active(now))
        .map(|a| a.scope)
        .chain(
            subject
                .permissions
                .iter()
                .filter(move |g| g.is_active(now) && g.permission == permission)
                .map(|g| g.scope),
        )
        .chain(subject.memberships.iter().copied())
}

impl RbacService {
    /// Builds the service; call [`RbacService::init`] before use.
    pub fn new(
        repo: Arc<dyn RbacRepository>,
        scopes: Arc<dyn ScopeDirectory>,
        cache: Arc<dyn SubjectCache>,
        bus: Arc<dyn InvalidationBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repo,
            scopes,
            cache,
            bus,
            clock,
            policy: RwLock::new(Arc::new(Policy::default())),
            policy_version: AtomicU64::new(0),
            subjects: Mutex::new(HashMap::new()),
            paths: Mutex::new(HashMap::new()),
            local_cache: AtomicBool::new(true),
            generation: AtomicU64::new(0),
            changes: tokio::sync::broadcast::channel(CHANGES_QUEUE).0,
        }
    }

    /// The access changes applied on this instance from now on — grants, memberships,
    /// templates, overrides, the organisation tree — whether made here or announced by
    /// another instance. Delivered after the caches were dropped, so a check made on
    /// receipt sees the change.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Invalidation> {
        self.changes.subscribe()
    }

    fn announce_locally(&self, change: Invalidation) {
        // Err only when nobody watches.
        let _ = self.changes.send(change);
    }

    /// Seeds the default roles (idempotently), repairs the protected built-in roles
    /// ([`crate::protect`]) and loads the policy.
    ///
    /// Seeding leaves existing roles as an operator edited them, except where an edit
    /// broke a rule that protects every deployment: a `super_admin` stored without some
    /// permission (say, one the catalogue gained since it was seeded) gets every
    /// permission back; a `guest` or `basic_user` holding more than it may loses the
    /// excess; a deny override of `super_admin` or an allow override beyond what
    /// `guest`/`basic_user` may hold is removed. Each repair is audited (`role.repair`,
    /// `override.repair`, no actor) and announced to running instances.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn init(&self) -> Result<(), RbacError> {
        let inserted = self.repo.seed_roles(default_roles()).await?;
        if inserted > 0 {
            tracing::info!(inserted, "default roles seeded");
        }
        if self.repair_protected_roles().await? > 0
            && let Err(e) = self.bus.publish(Invalidation::Policy).await
        {
            tracing::warn!(error = %e, "could not announce the repaired roles");
        }
        self.reload_policy().await
    }

    /// Brings stored built-in roles and their overrides back within the rules of
    /// [`crate::protect`]; returns how many changes it stored.
    async fn repair_protected_roles(&self) -> Result<usize, RbacError> {
        let system = Actor::default();
        let mut repairs = 0;
        for role in self.repo.roles().await? {
            let Some(fixed) = crate::protect::repaired(&role) else {
                continue;
            };
            tracing::warn!(role = %role.name, "protected built-in role repaired at start-up");
            let mut audit = self.audit(&system, "role.repair", format!("role:{}", role.name), None);
            audit.before = to_json(&role.permissions);
            audit.after = to_json(&fixed);
            self.repo
                .set_role_permissions(&role.name, fixed, audit)
                .await?;
            repairs += 1;
        }
        for o in self.repo.overrides().await? {
            if crate::protect::check_override(&o.role, o.permission, o.effect).is_ok() {
                continue;
            }
            tracing::warn!(role = %o.role, permission = %o.permission, "override of a protected role removed at start-up");
            let mut audit = self.audit(
                &system,
                "override.repair",
                format!("role:{}", o.role),
                Some(o.scope),
            );
            audit.before = to_json(&o);
            match self.repo.delete_override(o.id, audit).await {
                // another instance starting at the same time removed it first
                Ok(_) | Err(StoreError::NotFound) => repairs += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(repairs)
    }

    /// Re-reads role templates and overrides.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn reload_policy(&self) -> Result<(), RbacError> {
        let (roles, overrides) = (self.repo.roles().await?, self.repo.overrides().await?);
        let version = self.policy_version.fetch_add(1, Ordering::SeqCst) + 1;
        let policy = Arc::new(Policy::new(roles, overrides, version));
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
        Ok(())
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies an invalidation received from the bus (or made locally).
    ///
    /// # Errors
    /// Storage errors when reloading the policy.
    pub async fn apply(&self, message: Invalidation) -> Result<(), RbacError> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match message {
            Invalidation::User { user_id } => {
                lock(&self.subjects).remove(&user_id);
            }
            Invalidation::Scopes => lock(&self.paths).clear(),
            Invalidation::Policy => self.reload_policy().await?,
        }
        self.announce_locally(message);
        Ok(())
    }

    /// Tells the service whether invalidation messages are being received. While they are
    /// not, in-process caches are cleared and bypassed.
    pub fn set_feed_healthy(&self, healthy: bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let was = self.local_cache.swap(healthy, Ordering::SeqCst);
        if was != healthy {
            lock(&self.subjects).clear();
            lock(&self.paths).clear();
        }
    }

    /// The grant set of a caller (anonymous when `user_id` is `None`).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn subject(&self, user_id: Option<Uuid>) -> Result<Arc<Subject>, RbacError> {
        let Some(user_id) = user_id else {
            return Ok(Arc::new(Subject::anonymous()));
        };
        let generation = self.generation.load(Ordering::SeqCst);
        let local = self.local_cache.load(Ordering::SeqCst);
        if local && let Some(s) = lock(&self.subjects).get(&user_id) {
            return Ok(s.clone());
        }
        let subject = match self.cache.get(user_id).await {
            Ok(Some(s)) => s,
            other => {
                if let Err(e) = other {
                    tracing::warn!(error = %e, "subject cache unavailable; reading the database");
                }
                let memberships = self.scopes.memberships(user_id).await?;
                let s = self
                    .repo
                    .subject(user_id)
                    .await?
                    .with_memberships(memberships);
                // Skip the fill if an invalidation arrived meanwhile: what was read may
                // predate the change.
                let unchanged = self.generation.load(Ordering::SeqCst) == generation;
                if unchanged
                    && let Err(e) = self.cache.put(user_id, &s, SHARED_CACHE_TTL_SECS).await
                {
                    tracing::warn!(error = %e, "could not fill the subject cache");
                }
                s
            }
        };
        let subject = Arc::new(subject);
        if local && self.generation.load(Ordering::SeqCst) == generation {
            lock(&self.subjects).insert(user_id, subject.clone());
        }
        Ok(subject)
    }

    /// The ancestor chain of a scope.
    ///
    /// # Errors
    /// [`RbacError::UnknownScope`] when the organisation does not exist.
    pub async fn path_of(&self, scope: Scope) -> Result<ScopePath, RbacError> {
        if scope == Scope::Global {
            return Ok(ScopePath::global());
        }
        if let Some(p) = lock(&self.paths).get(&scope) {
            return Ok(p.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let path = self
            .scopes
            .path_of(scope)
            .await?
            .ok_or_else(|| RbacError::UnknownScope(scope.to_string()))?;
        if self.local_cache.load(Ordering::SeqCst)
            && self.generation.load(Ordering::SeqCst) == generation
        {
            lock(&self.paths).insert(scope, path.clone());
        }
        Ok(path)
    }

    /// Decides whether `user_id` may do `permission` in `scope` (on a resource created by
    /// `owner`, if given). Every decision names the grant or rule that decided.
    ///
    /// # Errors
    /// [`RbacError::UnknownScope`], storage errors.
    pub async fn check(
        &self,
        user_id: Option<Uuid>,
        permission: Permission,
        scope: Scope,
        owner: Option<Uuid>,
    ) -> Result<Decision, RbacError> {
        self.check_resource(user_id, permission, scope, owner, false)
            .await
    }

    /// Like [`RbacService::check`], for a resource that may have been opened to the
    /// public (`public`): only then do the implicit global roles read it inside a unit.
    ///
    /// # Errors
    /// [`RbacError::UnknownScope`], storage errors.
    pub async fn check_resource(
        &self,
        user_id: Option<Uuid>,
        permission: Permission,
        scope: Scope,
        owner: Option<Uuid>,
        public: bool,
    ) -> Result<Decision, RbacError> {
        let target = self.path_of(scope).await?;
        let subject = self.subject(user_id).await?;
        let policy = self.policy();
        Ok(decide(
            &policy,
            &subject,
            &AccessRequest::new(permission, &target)
                .owned_by(owner)
                .public(public),
            self.clock.now(),
        ))
    }

    /// Where `user_id` could read something needing `permission`, for lists: every scope
    /// they hold an active grant in or are a member of, with the units inside, plus
    /// `global`; or [`Reach::Everywhere`] when one of those is global. A list filtered to
    /// these scopes (and to public items) and then checked item by item with
    /// [`RbacService::check_resource`] shows the caller what they may read and nothing
    /// more, deny overrides included.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn reach(
        &self,
        user_id: Option<Uuid>,
        permission: Permission,
    ) -> Result<Reach, RbacError> {
        let subject = self.subject(user_id).await?;
        let now = self.clock.now();
        let held: Vec<Scope> = held_scopes(&subject, permission, now).collect();
        if held.contains(&Scope::Global) {
            return Ok(Reach::Everywhere);
        }
        let mut scopes = vec![Scope::Global];
        for scope in held {
            if scopes.contains(&scope) {
                continue;
            }
            for inner in self.scopes.within(scope).await? {
                if !scopes.contains(&inner) {
                    scopes.push(inner);
                }
            }
        }
        Ok(Reach::Within(scopes))
    }

    /// The scopes in which `user_id` holds `permission`, for lists that show each caller
    /// what they may read: decided by [`decide`] itself, so expiry, template
    /// inheritance, allow and deny overrides, direct grants and memberships count exactly
    /// as they do for one request (no owner, not public).
    ///
    /// The answer can only change where something of the caller's (a grant, a
    /// membership) or an override of `permission` sits, so the engine decides at each of
    /// those scopes and the verdict holds for the units inside, down to the next such
    /// scope; every other unit is decided as one directly under `global`. A deny override
    /// in an institution therefore removes that institution's whole subtree.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn scopes_with(
        &self,
        user_id: Option<Uuid>,
        permission: Permission,
    ) -> Result<ScopeSet, RbacError> {
        let subject = self.subject(user_id).await?;
        let policy = self.policy();
        let now = self.clock.now();
        let allowed = |target: &ScopePath| {
            decide(
                &policy,
                &subject,
                &AccessRequest::new(permission, target),
                now,
            )
            .allowed
        };
        let mut marks: Vec<Scope> = held_scopes(&subject, permission, now)
            .chain(
                // only the overrides of a role the caller may hold can change a verdict
                policy
                    .overrides_of(permission)
                    .into_iter()
                    .filter(|(role, _)| {
                        matches!(*role, GUEST | BASIC_USER)
                            || (*role == MEMBER && !subject.memberships.is_empty())
                            || subject.roles.iter().any(|a| a.role == *role)
                    })
                    .map(|(_, scope)| scope),
            )
            .filter(|s| *s != Scope::Global)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Shallow first: a deeper scope's verdict replaces its ancestor's inside it.
        marks.sort_by_key(Scope::depth);
        // A unit with nothing of its own on its path: the nil institution stands for it,
        // since no grant, membership or override can name a unit that cannot exist.
        let elsewhere =
            ScopePath::new(vec![Scope::Institution(Uuid::nil())]).is_ok_and(|p| allowed(&p));
        let mut verdicts: Vec<(Scope, bool)> = Vec::new();
        for mark in marks {
            let path = match self.path_of(mark).await {
                Ok(path) => path,
                // a unit deleted since it was granted or overridden holds nothing
                Err(RbacError::UnknownScope(_)) => continue,
                Err(e) => return Err(e),
            };
            let here = allowed(&path);
            for unit in self.scopes.within(mark).await? {
                match verdicts.iter_mut().find(|(s, _)| *s == unit) {
                    Some(v) => v.1 = here,
                    None => verdicts.push((unit, here)),
                }
            }
        }
        let mut differ: Vec<Scope> = verdicts
            .into_iter()
            .filter(|(_, v)| *v != elsewhere)
            .map(|(s, _)| s)
            .collect();
        if allowed(&ScopePath::global()) != elsewhere {
            differ.push(Scope::Global);
        }
        differ.sort();
        Ok(if elsewhere {
            ScopeSet::AllBut(differ)
        } else {
            ScopeSet::Only(differ)
        })
    }

    /// Announces that what `user_id` may reach changed outside the grant tables (e.g.
    /// they were added to or removed from a unit): every instance drops its cached copy,
    /// so the change holds everywhere within the invalidation delay.
    pub async fn forget_user(&self, user_id: Uuid) {
        self.changed_user(user_id).await;
    }

    /// The roles `user_id` holds in `scope` right now (assignments in force on the scope or
    /// any scope containing it, plus the implicit `basic_user` and `guest`), highest rank
    /// first. For settings chosen by role, such as a room's send rate.
    ///
    /// # Errors
    /// [`RbacError::UnknownScope`], storage errors.
    pub async fn roles_in(&self, user_id: Uuid, scope: Scope) -> Result<Vec<String>, RbacError> {
        let target = self.path_of(scope).await?;
        let subject = self.subject(Some(user_id)).await?;
        let policy = self.policy();
        let now = self.clock.now();
        let mut roles: Vec<String> = subject
            .roles
            .iter()
            .filter(|a| a.is_active(now) && target.is_within(&a.scope))
            .map(|a| a.role.clone())
            .chain(
                subject
                    .memberships
                    .iter()
                    .any(|m| target.is_within(m))
                    .then(|| crate::role::names::MEMBER.to_owned()),
            )
            .chain([
                crate::role::names::BASIC_USER.to_owned(),
                crate::role::names::GUEST.to_owned(),
            ])
            .collect();
        roles.sort_by(|a, b| policy.rank(b).cmp(&policy.rank(a)).then(a.cmp(b)));
        roles.dedup();
        Ok(roles)
    }

    /// Like [`RbacService::check`], but a denial is an error.
    ///
    /// # Errors
    /// [`RbacError::Forbidden`] with the decision when denied.
    pub async fn require(
        &self,
        user_id: Option<Uuid>,
        permission: Permission,
        scope: Scope,
        owner: Option<Uuid>,
    ) -> Result<Decision, RbacError> {
        let d = self.check(user_id, permission, scope, owner).await?;
        if d.allowed {
            Ok(d)
        } else {
            Err(RbacError::Forbidden(d))
        }
    }

    fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: String,
        scope: Option<Scope>,
    ) -> AuditRecord {
        AuditRecord {
            id: Uuid::new_v4(),
            at: self.clock.now(),
            actor: actor.user_id,
            action: action.to_owned(),
            target,
            scope,
            before: None,
            after: None,
            request_id: actor.request_id.clone(),
        }
    }

    /// Records a change made outside this service that belongs in the audit trail (e.g.
    /// a debate opened to the public), dated by the service's clock.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn record_change(
        &self,
        actor: &Actor,
        action: &str,
        target: String,
        scope: Option<Scope>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), RbacError> {
        let mut audit = self.audit(actor, action, target, scope);
        audit.before = before;
        audit.after = after;
        self.record(audit).await
    }

    async fn changed_user(&self, user_id: Uuid) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.cache.invalidate(user_id).await {
            tracing::warn!(error = %e, "could not drop a cached grant set");
        }
        if let Err(e) = self.bus.publish(Invalidation::User { user_id }).await {
            tracing::warn!(error = %e, "could not announce a grant change");
        }
        lock(&self.subjects).remove(&user_id);
        self.announce_locally(Invalidation::User { user_id });
    }

    async fn changed_policy(&self) -> Result<(), RbacError> {
        if let Err(e) = self.bus.publish(Invalidation::Policy).await {
            tracing::warn!(error = %e, "could not announce a policy change");
        }
        self.reload_policy().await?;
        self.announce_locally(Invalidation::Policy);
        Ok(())
    }

    /// Announces that the organisation tree changed (an institution, campus or
    /// department was deleted), so every instance forgets cached scope paths.
    pub async fn changed_scopes(&self) {
        if let Err(e) = self.bus.publish(Invalidation::Scopes).await {
            tracing::warn!(error = %e, "could not announce an organisation change");
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        lock(&self.paths).clear();
        self.announce_locally(Invalidation::Scopes);
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Refuses the first of `permissions` that `me` may not exercise globally: nobody puts
    /// into a role template what they could not do themselves.
    fn require_held(
        &self,
        policy: &Policy,
        me: &Subject,
        permissions: impl IntoIterator<Item = Permission>,
    ) -> Result<(), RbacError> {
        let (target, now) = (ScopePath::global(), self.now());
        for permission in permissions {
            let request = AccessRequest::new(permission, &target);
            let d = decide(policy, me, &request, now);
            if !d.allowed {
                return Err(RbacError::Forbidden(d));
            }
        }
        Ok(())
    }

    /// Gives `user_id` the role `role` in `scope`, optionally until `expires_at`. The
    /// assignment is stored with its audit record and its [`RbacEvent::RoleGranted`]
    /// event, all or nothing.
    ///
    /// # Errors
    /// [`RbacError::Escalation`] per [`may_assign`]; [`RbacError::Invalid`] for an expiry in
    /// the past; [`RbacError::Conflict`] when the user already holds it there.
    pub async fn assign_role(
        &self,
        actor: &Actor,
        user_id: Uuid,
        role: &str,
        scope: Scope,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<RoleAssignment, RbacError> {
        let now = self.now();
        if expires_at.is_some_and(|t| t <= now) {
            return Err(RbacError::Invalid(
                "expires_at".into(),
                "must be in the future".into(),
            ));
        }
        let target = self.path_of(scope).await?;
        let me = self.subject(actor.user_id).await?;
        may_assign(&self.policy(), &me, user_id, role, &target, now)?;
        let a = RoleAssignment {
            id: Uuid::new_v4(),
            user_id,
            role: role.to_owned(),
            scope,
            expires_at,
            granted_by: actor.user_id,
            granted_at: now,
        };
        let mut audit = self.audit(
            actor,
            "grant.create",
            format!("user:{user_id}"),
            Some(scope),
        );
        audit.after = to_json(&a);
        let granted = role_granted(&a);
        self.repo
            .insert_assignment(a.clone(), audit, &[granted])
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => {
                    RbacError::Conflict(format!("the user already holds {role} in {scope}"))
                }
                StoreError::NotFound => RbacError::NotFound("user".into()),
                other => other.into(),
            })?;
        self.changed_user(user_id).await;
        Ok(a)
    }

    /// Deletes the role assignments and permission grants that expired before now, and
    /// returns how many went; for a periodic job. Nothing is invalidated or announced:
    /// decisions already skip expired grants, so no cached grant set allows more than
    /// the store now holds.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn purge_expired(&self) -> Result<u64, RbacError> {
        let purged = self.repo.purge_expired(self.now()).await?;
        if purged > 0 {
            tracing::info!(purged, "expired grants purged");
        }
        Ok(purged)
    }

    /// Revokes a role assignment. The same rule as for assigning applies: nobody revokes
    /// their own grants or a role at or above their own.
    ///
    /// # Errors
    /// [`RbacError::NotFound`], [`RbacError::Escalation`].
    pub async fn revoke_role(
        &self,
        actor: &Actor,
        grant_id: Uuid,
    ) -> Result<RoleAssignment, RbacError> {
        let a = self
            .repo
            .assignment(grant_id)
            .await?
            .ok_or_else(|| RbacError::NotFound("grant".into()))?;
        let target = self.path_of(a.scope).await?;
        let me = self.subject(actor.user_id).await?;
        may_assign(&self.policy(), &me, a.user_id, &a.role, &target, self.now())?;
        let mut audit = self.audit(
            actor,
            "grant.revoke",
            format!("user:{}", a.user_id),
            Some(a.scope),
        );
        audit.before = to_json(&a);
        self.repo
            .delete_assignment(grant_id, audit)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => RbacError::NotFound("grant".into()),
                other => other.into(),
            })?;
        self.changed_user(a.user_id).await;
        Ok(a)
    }

    /// Grants one permission directly (typically temporarily). The actor needs
    /// `role.role_assign` in the scope and must hold the permission there themselves.
    ///
    /// # Errors
    /// [`RbacError::Forbidden`], [`RbacError::Escalation`] (own grants).
    pub async fn grant_permission(
        &self,
        actor: &Actor,
        user_id: Uuid,
        permission: Permission,
        scope: Scope,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<PermissionGrant, RbacError> {
        let now = self.now();
        if actor.user_id == Some(user_id) {
            return Err(crate::AssignRefusal::OwnGrant.into());
        }
        if expires_at.is_some_and(|t| t <= now) {
            return Err(RbacError::Invalid(
                "expires_at".into(),
                "must be in the future".into(),
            ));
        }
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::RoleAssign),
            scope,
            None,
        )
        .await?;
        self.require(actor.user_id, permission, scope, None).await?;
        let g = PermissionGrant {
            id: Uuid::new_v4(),
            user_id,
            permission,
            scope,
            expires_at,
            granted_by: actor.user_id,
            granted_at: now,
        };
        let mut audit = self.audit(
            actor,
            "permission_grant.create",
            format!("user:{user_id}"),
            Some(scope),
        );
        audit.after = to_json(&g);
        self.repo.insert_permission_grant(g.clone(), audit).await?;
        self.changed_user(user_id).await;
        Ok(g)
    }

    /// Revokes a direct permission grant. The same rule as for granting it applies: the
    /// actor needs `role.role_assign` in its scope and must hold the permission there
    /// themselves, and nobody revokes their own grants.
    ///
    /// # Errors
    /// [`RbacError::NotFound`], [`RbacError::Forbidden`], [`RbacError::Escalation`]
    /// (own grants).
    pub async fn revoke_permission(&self, actor: &Actor, grant_id: Uuid) -> Result<(), RbacError> {
        let g = self
            .repo
            .permission_grant(grant_id)
            .await?
            .ok_or_else(|| RbacError::NotFound("grant".into()))?;
        if actor.user_id == Some(g.user_id) {
            return Err(crate::AssignRefusal::OwnGrant.into());
        }
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::RoleAssign),
            g.scope,
            None,
        )
        .await?;
        // Without this, anyone who may assign roles in a scope could take away any
        // permission there, including ones ranked far above their own.
        self.require(actor.user_id, g.permission, g.scope, None)
            .await?;
        let mut audit = self.audit(
            actor,
            "permission_grant.revoke",
            format!("user:{}", g.user_id),
            Some(g.scope),
        );
        audit.before = to_json(&g);
        self.repo.delete_permission_grant(grant_id, audit).await?;
        self.changed_user(g.user_id).await;
        Ok(())
    }

    /// Lists role assignments. By scope: needs `role.read` there. Your own: all of them.
    /// Otherwise (someone else's, or everyone's): those held in the scopes where the
    /// actor holds `role.read` ([`RbacService::scopes_with`]), none when there are none.
    ///
    /// # Errors
    /// [`RbacError::Forbidden`].
    pub async fn list_grants(
        &self,
        actor: &Actor,
        filter: GrantFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<RoleAssignment>, RbacError> {
        let read = perm(ResourceType::Role, Action::Read);
        let mut filter = filter;
        match (filter.user_id, filter.scope) {
            (_, Some(scope)) => {
                self.require(actor.user_id, read, scope, None).await?;
            }
            (Some(user), None) if actor.user_id == Some(user) => {}
            // someone else's grants, or every grant: those in the scopes the actor reads
            (_, None) => {
                let readable = self.scopes_with(actor.user_id, read).await?;
                if readable.is_empty() {
                    return Ok(Vec::new());
                }
                filter.readable = Some(readable);
            }
        }
        Ok(self.repo.list_assignments(filter, after, limit).await?)
    }

    /// Creates a custom role ranked below the actor's own (needs `role.create` globally).
    ///
    /// # Errors
    /// [`RbacError::Invalid`], [`RbacError::Forbidden`], [`RbacError::Conflict`].
    pub async fn create_role(
        &self,
        actor: &Actor,
        mut role: RoleTemplate,
    ) -> Result<RoleTemplate, RbacError> {
        if !valid_role_name(&role.name) {
            return Err(RbacError::Invalid(
                "name".into(),
                "2-48 characters of a-z, 0-9 and _, starting with a letter".into(),
            ));
        }
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::Create),
            Scope::Global,
            None,
        )
        .await?;
        let policy = self.policy();
        let me = self.subject(actor.user_id).await?;
        if !is_super_admin(&me, self.now())
            && role.rank >= crate::highest_rank(&policy, &me, &ScopePath::global(), self.now())
        {
            return Err(crate::AssignRefusal::RoleTooHigh.into());
        }
        if let Some(unknown) = role.inherits.iter().find(|p| policy.role(p).is_none()) {
            return Err(RbacError::Invalid(
                "inherits".into(),
                format!("unknown role {unknown}"),
            ));
        }
        // Ranks drive the no-escalation rule, so a role may only inherit from roles ranked
        // below it, and hold nothing its creator could not do.
        if let Some(higher) = role.inherits.iter().find(|p| policy.rank(p) >= role.rank) {
            return Err(RbacError::Invalid(
                "inherits".into(),
                format!("{higher} is not ranked below {}", role.name),
            ));
        }
        let mut effective = role.permissions.clone();
        for parent in &role.inherits {
            effective.extend(policy.effective_permissions(parent).into_iter().flatten());
        }
        self.require_held(&policy, &me, effective)?;
        role.built_in = false;
        let mut audit = self.audit(actor, "role.create", format!("role:{}", role.name), None);
        audit.after = to_json(&role);
        self.repo
            .insert_role(role.clone(), audit)
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => {
                    RbacError::Conflict(format!("role {} exists", role.name))
                }
                other => other.into(),
            })?;
        self.changed_policy().await?;
        Ok(role)
    }

    /// Replaces a role template's own permissions (needs `role.update` globally and a
    /// role ranked below the actor's). `super_admin` keeps every permission and `guest`
    /// and `basic_user` stay within their ceilings ([`crate::protect`]).
    ///
    /// # Errors
    /// [`RbacError::NotFound`], [`RbacError::Forbidden`], [`RbacError::Escalation`],
    /// [`RbacError::Protected`].
    pub async fn set_role_permissions(
        &self,
        actor: &Actor,
        role: &str,
        permissions: BTreeSet<Permission>,
    ) -> Result<(), RbacError> {
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::Update),
            Scope::Global,
            None,
        )
        .await?;
        let policy = self.policy();
        let before = policy
            .role(role)
            .cloned()
            .ok_or_else(|| RbacError::NotFound(format!("role {role}")))?;
        let me = self.subject(actor.user_id).await?;
        if !is_super_admin(&me, self.now())
            && before.rank >= crate::highest_rank(&policy, &me, &ScopePath::global(), self.now())
        {
            return Err(crate::AssignRefusal::RoleTooHigh.into());
        }
        if let Err(refusal) = crate::protect::check_template(role, &permissions) {
            // An attempt to wreck a built-in role is worth knowing about: recorded,
            // with what was asked, and nothing changed.
            let mut audit = self.audit(actor, "role.update_refused", format!("role:{role}"), None);
            audit.before = to_json(&before.permissions);
            audit.after = to_json(&permissions);
            self.record(audit).await?;
            return Err(refusal.into());
        }
        // Roles above inherit this one: whatever it gains, they gain too.
        self.require_held(
            &policy,
            &me,
            permissions.difference(&before.permissions).copied(),
        )?;
        let mut audit = self.audit(actor, "role.update", format!("role:{role}"), None);
        audit.before = to_json(&before.permissions);
        audit.after = to_json(&permissions);
        self.repo
            .set_role_permissions(role, permissions, audit)
            .await?;
        self.changed_policy().await
    }

    /// Resets a built-in role template to its default permissions ([`default_roles`]),
    /// with the same rights as editing it: `role.update` globally, a role ranked below
    /// the actor's, and nothing regained that the actor lacks. Stored with its audit
    /// record (`role.reset`, permissions before and after) and announced like any edit.
    /// Overrides of the role are left alone: they belong to their scopes.
    ///
    /// # Errors
    /// [`RbacError::NotFound`] for an unknown role; [`RbacError::Conflict`] for a custom
    /// role (it has no defaults); [`RbacError::Forbidden`], [`RbacError::Escalation`].
    pub async fn reset_role(&self, actor: &Actor, role: &str) -> Result<RoleTemplate, RbacError> {
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::Update),
            Scope::Global,
            None,
        )
        .await?;
        let policy = self.policy();
        let before = policy
            .role(role)
            .cloned()
            .ok_or_else(|| RbacError::NotFound(format!("role {role}")))?;
        let default = default_roles()
            .into_iter()
            .find(|t| t.name == role && before.built_in)
            .ok_or_else(|| {
                RbacError::Conflict(format!(
                    "{role} is not a built-in role: it has no defaults to reset to"
                ))
            })?;
        let me = self.subject(actor.user_id).await?;
        if !is_super_admin(&me, self.now())
            && before.rank >= crate::highest_rank(&policy, &me, &ScopePath::global(), self.now())
        {
            return Err(crate::AssignRefusal::RoleTooHigh.into());
        }
        // As for an edit: roles above inherit what this one regains.
        self.require_held(
            &policy,
            &me,
            default.permissions.difference(&before.permissions).copied(),
        )?;
        let mut audit = self.audit(actor, "role.reset", format!("role:{role}"), None);
        audit.before = to_json(&before.permissions);
        audit.after = to_json(&default.permissions);
        self.repo
            .set_role_permissions(role, default.permissions.clone(), audit)
            .await?;
        self.changed_policy().await?;
        Ok(RoleTemplate {
            permissions: default.permissions,
            ..before
        })
    }

    /// Deletes a custom role (built-in roles cannot be deleted).
    ///
    /// # Errors
    /// [`RbacError::Conflict`] for a built-in role, [`RbacError::NotFound`],
    /// [`RbacError::Forbidden`].
    pub async fn delete_role(&self, actor: &Actor, role: &str) -> Result<(), RbacError> {
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::Delete),
            Scope::Global,
            None,
        )
        .await?;
        let before = self
            .policy()
            .role(role)
            .cloned()
            .ok_or_else(|| RbacError::NotFound(format!("role {role}")))?;
        if before.built_in {
            return Err(RbacError::Conflict(format!(
                "{role} is a built-in role and cannot be deleted"
            )));
        }
        let mut audit = self.audit(actor, "role.delete", format!("role:{role}"), None);
        audit.before = to_json(&before);
        self.repo.delete_role(role, audit).await?;
        self.changed_policy().await
    }

    /// Adds a per-scope override of a role template. Needs `role.update` in the scope, a
    /// role ranked below the actor's there, and for an allow, the permission itself.
    /// `super_admin` cannot be denied anything, and `guest` and `basic_user` cannot be
    /// allowed more than their ceilings ([`crate::protect`]).
    ///
    /// # Errors
    /// [`RbacError::Forbidden`], [`RbacError::Escalation`], [`RbacError::Protected`],
    /// [`RbacError::Conflict`].
    pub async fn add_override(
        &self,
        actor: &Actor,
        role: &str,
        scope: Scope,
        permission: Permission,
        effect: Effect,
    ) -> Result<Override, RbacError> {
        let target = self.path_of(scope).await?;
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::Update),
            scope,
            None,
        )
        .await?;
        let policy = self.policy();
        let template = policy
            .role(role)
            .ok_or_else(|| RbacError::NotFound(format!("role {role}")))?;
        let me = self.subject(actor.user_id).await?;
        let now = self.now();
        if !is_super_admin(&me, now)
            && template.rank >= crate::highest_rank(&policy, &me, &target, now)
        {
            return Err(crate::AssignRefusal::RoleTooHigh.into());
        }
        if let Err(refusal) = crate::protect::check_override(role, permission, effect) {
            let mut audit = self.audit(
                actor,
                "override.create_refused",
                format!("role:{role}"),
                Some(scope),
            );
            audit.after = Some(serde_json::json!({
                "permission": permission.to_string(),
                "effect": effect,
            }));
            self.record(audit).await?;
            return Err(refusal.into());
        }
        if effect == Effect::Allow {
            self.require(actor.user_id, permission, scope, None).await?;
        }
        let o = Override {
            id: Uuid::new_v4(),
            role: role.to_owned(),
            scope,
            permission,
            effect,
        };
        let mut audit = self.audit(
            actor,
            "override.create",
            format!("role:{role}"),
            Some(scope),
        );
        audit.after = to_json(&o);
        self.repo
            .insert_override(o.clone(), audit)
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => RbacError::Conflict(
                    "an override for this role, scope and permission exists".into(),
                ),
                other => other.into(),
            })?;
        self.changed_policy().await?;
        Ok(o)
    }

    /// Removes an override (same rights as adding it).
    ///
    /// # Errors
    /// [`RbacError::NotFound`], [`RbacError::Forbidden`].
    pub async fn remove_override(&self, actor: &Actor, id: Uuid) -> Result<(), RbacError> {
        let policy = self.policy();
        let existing = self
            .repo
            .overrides()
            .await?
            .into_iter()
            .find(|o| o.id == id);
        let o = existing.ok_or_else(|| RbacError::NotFound("override".into()))?;
        self.require(
            actor.user_id,
            perm(ResourceType::Role, Action::Update),
            o.scope,
            None,
        )
        .await?;
        let target = self.path_of(o.scope).await?;
        let me = self.subject(actor.user_id).await?;
        let now = self.now();
        if !is_super_admin(&me, now)
            && policy.rank(&o.role) >= crate::highest_rank(&policy, &me, &target, now)
        {
            return Err(crate::AssignRefusal::RoleTooHigh.into());
        }
        let mut audit = self.audit(
            actor,
            "override.delete",
            format!("role:{}", o.role),
            Some(o.scope),
        );
        audit.before = to_json(&o);
        self.repo.delete_override(id, audit).await?;
        self.changed_policy().await
    }

    /// Overrides in one scope (needs `role.read` there), or without a scope those in
    /// every scope where the actor holds `role.read` (none when there is none).
    ///
    /// # Errors
    /// [`RbacError::Forbidden`].
    pub async fn list_overrides(
        &self,
        actor: &Actor,
        scope: Option<Scope>,
    ) -> Result<Vec<Override>, RbacError> {
        let read = perm(ResourceType::Role, Action::Read);
        let readable = match scope {
            Some(s) => {
                self.require(actor.user_id, read, s, None).await?;
                None
            }
            None => Some(self.scopes_with(actor.user_id, read).await?),
        };
        if readable.as_ref().is_some_and(ScopeSet::is_empty) {
            return Ok(Vec::new());
        }
        let all = self.repo.overrides().await?;
        Ok(all
            .into_iter()
            .filter(|o| scope.is_none_or(|s| o.scope == s))
            .filter(|o| readable.as_ref().is_none_or(|r| r.contains(&o.scope)))
            .collect())
    }

    /// The audit trail, newest first. With a scope in the filter: needs `audit.read`
    /// there. Without: the records of every scope where the actor holds `audit.read`
    /// (a record without a scope counts as `global`), none when there is none.
    ///
    /// # Errors
    /// [`RbacError::Forbidden`].
    pub async fn audit_log(
        &self,
        actor: &Actor,
        filter: AuditFilter,
        before: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, RbacError> {
        let read = perm(ResourceType::Audit, Action::Read);
        let mut filter = filter;
        match filter.scope {
            Some(scope) => {
                self.require(actor.user_id, read, scope, None).await?;
            }
            None => {
                let readable = self.scopes_with(actor.user_id, read).await?;
                if readable.is_empty() {
                    return Ok(Vec::new());
                }
                filter.readable = Some(readable);
            }
        }
        Ok(self.repo.list_audit(filter, before, limit).await?)
    }

    /// Records a change made outside this service (e.g. the bootstrap of the first
    /// administrator by the command line).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn record(&self, audit: AuditRecord) -> Result<(), RbacError> {
        Ok(self.repo.append_audit(audit).await?)
    }
}

#[cfg(test)]
mod tests;
