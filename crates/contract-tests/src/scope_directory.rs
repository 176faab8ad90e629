//! Contract of [`ScopeDirectory`] as implemented by the organisation repositories: the
//! path of a scope is read from the same tree [`OrgRepository`] stores.

use domain_core::Clock;
use domain_org::{Campus, Department, Institution, OrgRepository};
use domain_rbac::{Scope, ScopeDirectory, ScopePath};
use uuid::Uuid;

use crate::{clock, tag};

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
pub async fn paths_of_each_level(repo: &dyn OrgRepository, dir: &dyn ScopeDirectory) {
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
pub async fn missing_units_have_none(repo: &dyn OrgRepository, dir: &dyn ScopeDirectory) {
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
