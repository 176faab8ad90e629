//! Contract of [`ScopeDirectory`] as implemented by the organisation repositories: the
//! path of a scope is read from the same tree [`OrgRepository`] stores.

use domain_core::Clock;
use domain_identity::UserRepository;
use domain_org::{Campus, Department, Institution, Member, OrgRepository, UnitRef};
use domain_rbac::{Scope, ScopeDirectory, ScopePath};
use uuid::Uuid;

use crate::{clock, existing_user, tag};

/// Stores an institution with one campus and one department.
async fn tree(repo: &dyn OrgRepository) -> (Uuid, Uuid, Uuid) {
    let now = clock().now();
    let i = Institution {
        id: Uuid::new_v4(),
        name: format!("Scoped {}", tag()),
        created_by: None,
        created_at: now,
    };
    let c = Campus {
        id: Uuid::new_v4(),
        institution_id: i.id,
        name: "Campus".into(),
        created_by: None,
        created_at: now,
    };
    let d = Department {
        id: Uuid::new_v4(),
        campus_id: c.id,
        institution_id: i.id,
        name: "Department".into(),
        created_by: None,
        created_at: now,
    };
    repo.insert_institution(i.clone()).await.unwrap();
    repo.insert_campus(c.clone()).await.unwrap();
    repo.insert_department(d.clone()).await.unwrap();
    (i.id, c.id, d.id)
}

fn path(chain: Vec<Scope>) -> ScopePath {
    ScopePath::new(chain).unwrap()
}

/// Every level resolves to itself and its ancestors, most specific first, ending with
/// `global`; `global` always resolves.
pub async fn paths_of_each_level<R>(dir: &R, _users: &dyn UserRepository)
where
    R: OrgRepository + ScopeDirectory,
{
    let repo = dir;
    let (i, c, d) = tree(repo).await;
    assert_eq!(
        dir.path_of(Scope::Global).await.unwrap(),
        Some(ScopePath::global())
    );
    assert_eq!(
        dir.path_of(Scope::Institution(i)).await.unwrap(),
        Some(path(vec![Scope::Institution(i), Scope::Global]))
    );
    assert_eq!(
        dir.path_of(Scope::Campus(c)).await.unwrap(),
        Some(path(vec![Scope::Campus(c), Scope::Institution(i)]))
    );
    let dept = dir.path_of(Scope::Department(d)).await.unwrap().unwrap();
    assert_eq!(
        dept.scopes(),
        [
            Scope::Department(d),
            Scope::Campus(c),
            Scope::Institution(i),
            Scope::Global
        ]
    );
    assert_eq!(dept.target(), Scope::Department(d));

    // Another tree does not leak into this one.
    let (i2, c2, _) = tree(repo).await;
    let other = dir.path_of(Scope::Campus(c2)).await.unwrap().unwrap();
    assert!(other.is_within(&Scope::Institution(i2)));
    assert!(!other.is_within(&Scope::Institution(i)));
}

/// Unknown units have no path, whatever their kind, and neither do deleted ones or
/// anything that was below them.
pub async fn missing_units_have_none<R>(dir: &R, _users: &dyn UserRepository)
where
    R: OrgRepository + ScopeDirectory,
{
    let repo = dir;
    let unknown = Uuid::new_v4();
    for scope in [
        Scope::Institution(unknown),
        Scope::Campus(unknown),
        Scope::Department(unknown),
    ] {
        assert_eq!(dir.path_of(scope).await.unwrap(), None, "{scope}");
    }

    let (i, c, d) = tree(repo).await;
    assert_eq!(
        dir.path_of(Scope::Campus(i)).await.unwrap(),
        None,
        "an institution's id is not a campus"
    );
    assert_eq!(dir.path_of(Scope::Institution(d)).await.unwrap(), None);

    repo.delete_department(d).await.unwrap();
    assert_eq!(dir.path_of(Scope::Department(d)).await.unwrap(), None);
    assert!(dir.path_of(Scope::Campus(c)).await.unwrap().is_some());

    let (i2, c2, d2) = tree(repo).await;
    repo.delete_institution(i2).await.unwrap();
    for scope in [
        Scope::Institution(i2),
        Scope::Campus(c2),
        Scope::Department(d2),
    ] {
        assert_eq!(dir.path_of(scope).await.unwrap(), None, "{scope}");
    }
    assert!(
        dir.path_of(Scope::Institution(i)).await.unwrap().is_some(),
        "other institutions stay"
    );
}

/// A user's memberships are the units they are listed in, whatever the level, and
/// follow adds and removals at once; `within` lists a unit and everything inside it, in
/// the same order on every adapter (the unit, its campuses, then its departments, each by
/// id), and nothing for a unit that does not exist.
pub async fn memberships_and_units_within<R>(repo: &R, users: &dyn UserRepository)
where
    R: OrgRepository + ScopeDirectory,
{
    let now = clock().now();
    let (i, c, d) = tree(repo).await;
    let (i2, c2, d2) = tree(repo).await;
    let user = existing_user(users, now).await.0;
    let other = existing_user(users, now).await.0;
    assert_eq!(repo.memberships(user).await.unwrap(), vec![]);
    for unit in [UnitRef::department(d), UnitRef::institution(i2)] {
        repo.add_member(Member {
            unit,
            user_id: user,
            added_by: None,
            added_at: now,
        })
        .await
        .unwrap();
    }
    repo.add_member(Member {
        unit: UnitRef::campus(c),
        user_id: other,
        added_by: None,
        added_at: now,
    })
    .await
    .unwrap();
    let mine = repo.memberships(user).await.unwrap();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.contains(&Scope::Department(d)) && mine.contains(&Scope::Institution(i2)));
    assert_eq!(
        repo.memberships(other).await.unwrap(),
        vec![Scope::Campus(c)]
    );

    repo.remove_member(UnitRef::department(d), user)
        .await
        .unwrap();
    assert_eq!(
        repo.memberships(user).await.unwrap(),
        vec![Scope::Institution(i2)]
    );

    assert_eq!(
        repo.within(Scope::Institution(i)).await.unwrap(),
        vec![
            Scope::Institution(i),
            Scope::Campus(c),
            Scope::Department(d)
        ]
    );
    assert_eq!(
        repo.within(Scope::Campus(c2)).await.unwrap(),
        vec![Scope::Campus(c2), Scope::Department(d2)]
    );
    assert_eq!(
        repo.within(Scope::Department(d)).await.unwrap(),
        vec![Scope::Department(d)]
    );
    let unknown = Uuid::new_v4();
    for scope in [
        Scope::Institution(unknown),
        Scope::Campus(unknown),
        Scope::Department(unknown),
    ] {
        assert_eq!(repo.within(scope).await.unwrap(), vec![], "{scope}");
    }
}
