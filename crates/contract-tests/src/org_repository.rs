//! Contract of [`OrgRepository`].
//!
//! Each contract takes the repository and the [`UserRepository`] whose accounts it
//! accepts as members. Listings are checked for order and completeness of the rows the
//! contract made, so they also hold on a store that has other rows.

use chrono::{DateTime, Utc};
use domain_core::{Clock, StoreError};
use domain_identity::UserRepository;
use domain_org::{Campus, Department, Institution, Member, OrgRepository, UnitRef};
use uuid::Uuid;

use crate::{clock, existing_user, tag};

fn institution(name: &str, by: Option<Uuid>, at: DateTime<Utc>) -> Institution {
    Institution {
        id: Uuid::new_v4(),
        name: name.into(),
        created_by: by,
        created_at: at,
    }
}

fn campus(institution_id: Uuid, name: &str, at: DateTime<Utc>) -> Campus {
    Campus {
        id: Uuid::new_v4(),
        institution_id,
        name: name.into(),
        created_by: None,
        created_at: at,
    }
}

fn department(c: &Campus, name: &str, at: DateTime<Utc>) -> Department {
    Department {
        id: Uuid::new_v4(),
        campus_id: c.id,
        institution_id: c.institution_id,
        name: name.into(),
        created_by: None,
        created_at: at,
    }
}

fn member(unit: UnitRef, user_id: Uuid, by: Option<Uuid>, at: DateTime<Utc>) -> Member {
    Member {
        unit,
        user_id,
        added_by: by,
        added_at: at,
    }
}

fn is_duplicate(r: Result<(), StoreError>, field: &str) -> bool {
    matches!(r, Err(StoreError::Duplicate(f)) if f == field)
}

fn is_not_found(r: Result<(), StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound))
}

/// A fresh institution with one campus and one department, stored.
async fn small_tree(
    repo: &dyn OrgRepository,
    at: DateTime<Utc>,
) -> (Institution, Campus, Department) {
    let i = institution(&format!("Institution {}", tag()), None, at);
    let c = campus(i.id, "Main campus", at);
    let d = department(&c, "Philosophy", at);
    repo.insert_institution(i.clone()).await.unwrap();
    repo.insert_campus(c.clone()).await.unwrap();
    repo.insert_department(d.clone()).await.unwrap();
    (i, c, d)
}

/// Units read back exactly as stored; unknown ids read as `None`; a child needs an
/// existing parent (a department, its campus within the institution it names); ids are
/// unique.
pub async fn insert_and_find(repo: &dyn OrgRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let creator = existing_user(users, now).await.0;
    let i = institution(&format!("Agora University {}", tag()), Some(creator), now);
    repo.insert_institution(i.clone()).await.unwrap();
    assert_eq!(repo.institution(i.id).await.unwrap(), Some(i.clone()));

    let c = Campus {
        created_by: Some(creator),
        ..campus(i.id, "North", now)
    };
    repo.insert_campus(c.clone()).await.unwrap();
    assert_eq!(repo.campus(c.id).await.unwrap(), Some(c.clone()));

    let d = Department {
        created_by: Some(creator),
        ..department(&c, "Rhetoric", now)
    };
    repo.insert_department(d.clone()).await.unwrap();
    assert_eq!(repo.department(d.id).await.unwrap(), Some(d.clone()));

    let unknown = Uuid::new_v4();
    assert_eq!(repo.institution(unknown).await.unwrap(), None);
    assert_eq!(repo.campus(unknown).await.unwrap(), None);
    assert_eq!(repo.department(unknown).await.unwrap(), None);
    assert_eq!(
        repo.campus(i.id).await.unwrap(),
        None,
        "ids are per kind of unit"
    );

    // Parents must exist.
    assert!(is_not_found(
        repo.insert_campus(campus(unknown, "Orphan", now)).await
    ));
    let orphan = Campus {
        id: unknown,
        ..c.clone()
    };
    assert!(is_not_found(
        repo.insert_department(department(&orphan, "Orphan", now))
            .await
    ));
    let other = institution(&format!("Other {}", tag()), None, now);
    repo.insert_institution(other.clone()).await.unwrap();
    let mismatched = Department {
        institution_id: other.id,
        ..department(&c, "Mismatched", now)
    };
    assert!(
        is_not_found(repo.insert_department(mismatched.clone()).await),
        "a department's institution is its campus's"
    );
    assert_eq!(repo.department(mismatched.id).await.unwrap(), None);

    // Ids are unique.
    let same_id = Institution {
        name: format!("Another name {}", tag()),
        ..i.clone()
    };
    assert!(is_duplicate(repo.insert_institution(same_id).await, "id"));
    let same_id = Campus {
        name: "Another name".into(),
        ..c.clone()
    };
    assert!(is_duplicate(repo.insert_campus(same_id).await, "id"));
    let same_id = Department {
        name: "Another name".into(),
        ..d.clone()
    };
    assert!(is_duplicate(repo.insert_department(same_id).await, "id"));
    assert_eq!(repo.institution(i.id).await.unwrap(), Some(i));
    assert_eq!(repo.campus(c.id).await.unwrap(), Some(c));
    assert_eq!(repo.department(d.id).await.unwrap(), Some(d));
}

/// Names are unique per parent ignoring case; the same name under another parent is
/// fine; renames follow the same rule (a unit may change the case of its own name), and
/// a name freed by a rename can be taken.
pub async fn names_are_unique_per_parent(repo: &dyn OrgRepository, _users: &dyn UserRepository) {
    let now = clock().now();
    let t = tag();
    let a = institution(&format!("Agora {t}"), None, now);
    repo.insert_institution(a.clone()).await.unwrap();
    let clash = institution(&format!("AGORA {}", t.to_uppercase()), None, now);
    assert!(is_duplicate(
        repo.insert_institution(clash.clone()).await,
        "name"
    ));
    assert_eq!(repo.institution(clash.id).await.unwrap(), None);
    let b = institution(&format!("Bgora {t}"), None, now);
    repo.insert_institution(b.clone()).await.unwrap();

    // Campuses: per institution.
    let north_a = campus(a.id, "North", now);
    repo.insert_campus(north_a.clone()).await.unwrap();
    assert!(is_duplicate(
        repo.insert_campus(campus(a.id, "nORTH", now)).await,
        "name"
    ));
    let north_b = campus(b.id, "North", now);
    repo.insert_campus(north_b.clone())
        .await
        .expect("the same name in another institution");

    // Departments: per campus, even within one institution.
    let south_a = campus(a.id, "South", now);
    repo.insert_campus(south_a.clone()).await.unwrap();
    repo.insert_department(department(&north_a, "Logic", now))
        .await
        .unwrap();
    assert!(is_duplicate(
        repo.insert_department(department(&north_a, "LOGIC", now))
            .await,
        "name"
    ));
    repo.insert_department(department(&south_a, "Logic", now))
        .await
        .expect("the same name on another campus");
    repo.insert_department(department(&north_b, "logic", now))
        .await
        .expect("the same name in another institution");

    // Renames.
    assert!(is_duplicate(
        repo.rename_institution(b.id, &format!("agora {t}")).await,
        "name"
    ));
    repo.rename_institution(a.id, &format!("AGORA {t}"))
        .await
        .expect("changing only the case of its own name");
    assert_eq!(
        repo.institution(a.id).await.unwrap().unwrap().name,
        format!("AGORA {t}")
    );
    repo.rename_institution(a.id, &format!("Agora Renamed {t}"))
        .await
        .unwrap();
    repo.rename_institution(b.id, &format!("Agora {t}"))
        .await
        .expect("a name freed by a rename");
    assert_eq!(
        repo.institution(b.id).await.unwrap().unwrap(),
        Institution {
            name: format!("Agora {t}"),
            ..b.clone()
        },
        "only the name changes"
    );

    assert!(is_duplicate(
        repo.rename_campus(south_a.id, "north").await,
        "name"
    ));
    repo.rename_campus(north_b.id, "South")
        .await
        .expect("South is taken in the other institution only");
    repo.rename_campus(north_a.id, "NORTH").await.unwrap();
    assert_eq!(
        repo.campus(north_a.id).await.unwrap().unwrap().name,
        "NORTH"
    );

    let ethics = department(&north_a, "Ethics", now);
    repo.insert_department(ethics.clone()).await.unwrap();
    assert!(is_duplicate(
        repo.rename_department(ethics.id, "logic").await,
        "name"
    ));
    repo.rename_department(ethics.id, "Aesthetics")
        .await
        .unwrap();
    assert_eq!(
        repo.department(ethics.id).await.unwrap().unwrap(),
        Department {
            name: "Aesthetics".into(),
            ..ethics
        }
    );

    let unknown = Uuid::new_v4();
    assert!(is_not_found(repo.rename_institution(unknown, "X").await));
    assert!(is_not_found(repo.rename_campus(unknown, "X").await));
    assert!(is_not_found(repo.rename_department(unknown, "X").await));
}

/// Walks every page of size `limit`, checking each is at most `limit` long and that ids
/// strictly increase across pages; returns every id seen.
async fn walk<F, Fut>(limit: u32, mut fetch: F) -> Vec<Uuid>
where
    F: FnMut(Option<Uuid>) -> Fut,
    Fut: Future<Output = Vec<Uuid>>,
{
    let mut seen: Vec<Uuid> = Vec::new();
    let mut after = None;
    loop {
        let page = fetch(after).await;
        assert!(page.len() <= limit as usize, "at most `limit` items");
        for id in &page {
            assert!(seen.last().is_none_or(|last| last < id), "ordered by id");
            seen.push(*id);
        }
        if page.len() < limit as usize {
            return seen;
        }
        after = page.last().copied();
    }
}

/// Lists are ordered by id and paged by the last id seen; a filter by parent lists
/// exactly that parent's children.
pub async fn keyset_paging(repo: &dyn OrgRepository, _users: &dyn UserRepository) {
    let now = clock().now();
    let t = tag();
    let mut institutions = Vec::new();
    for n in 0..5 {
        let i = institution(&format!("Paged {t} {n}"), None, now);
        repo.insert_institution(i.clone()).await.unwrap();
        institutions.push(i.id);
    }
    let all = walk(2, |after| async move {
        repo.list_institutions(after, 2)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    })
    .await;
    assert!(institutions.iter().all(|i| all.contains(i)), "none missed");

    let (parent, other) = (institutions[0], institutions[1]);
    let mut campuses = Vec::new();
    for n in 0..5 {
        let c = campus(parent, &format!("Campus {n}"), now);
        repo.insert_campus(c.clone()).await.unwrap();
        campuses.push(c);
    }
    let elsewhere = campus(other, "Campus 0", now);
    repo.insert_campus(elsewhere.clone()).await.unwrap();
    let mut expected: Vec<Uuid> = campuses.iter().map(|c| c.id).collect();
    expected.sort();
    for limit in [1, 2, 5, 100] {
        let listed = walk(limit, |after| async move {
            repo.list_campuses(Some(parent), after, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect()
        })
        .await;
        assert_eq!(
            listed, expected,
            "the institution's campuses, limit {limit}"
        );
    }
    let first = repo
        .list_campuses(Some(parent), None, 1)
        .await
        .unwrap()
        .remove(0);
    assert!(
        campuses.contains(&first),
        "listed campuses are whole: {first:?}"
    );
    let unfiltered = walk(3, |after| async move {
        repo.list_campuses(None, after, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect()
    })
    .await;
    assert!(expected.iter().all(|c| unfiltered.contains(c)));
    assert!(unfiltered.contains(&elsewhere.id));
    assert!(
        repo.list_campuses(Some(Uuid::new_v4()), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let (north, south) = (&campuses[0], &campuses[1]);
    let mut departments = Vec::new();
    for n in 0..4 {
        let d = department(north, &format!("Department {n}"), now);
        repo.insert_department(d.clone()).await.unwrap();
        departments.push(d);
    }
    let beside = department(south, "Department 0", now);
    repo.insert_department(beside.clone()).await.unwrap();
    let mut expected: Vec<Uuid> = departments.iter().map(|d| d.id).collect();
    expected.sort();
    let north_id = north.id;
    let listed = walk(3, |after| async move {
        repo.list_departments(Some(north_id), after, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect()
    })
    .await;
    assert_eq!(listed, expected, "the campus's departments");
    let page = repo
        .list_departments(Some(north_id), None, 10)
        .await
        .unwrap();
    assert!(page.iter().all(|d| departments.contains(d)), "whole rows");
    let unfiltered = walk(2, |after| async move {
        repo.list_departments(None, after, 2)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect()
    })
    .await;
    assert!(expected.iter().all(|d| unfiltered.contains(d)));
    assert!(unfiltered.contains(&beside.id));
    assert!(
        repo.list_departments(Some(Uuid::new_v4()), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let last = *expected.last().unwrap();
    assert!(
        repo.list_departments(Some(north_id), Some(last), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing after the last"
    );
}

/// Members: only of existing units and users, once per unit (membership of one unit
/// says nothing about another), listed by user id with keyset paging, removable once.
pub async fn members(repo: &dyn OrgRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let (i, c, d) = small_tree(repo, now).await;
    let admin = existing_user(users, now).await.0;
    let mut people = Vec::new();
    for _ in 0..5 {
        people.push(existing_user(users, now).await.0);
    }
    let unit = UnitRef::campus(c.id);
    for (n, user) in people.iter().enumerate() {
        let by = (n % 2 == 0).then_some(admin);
        repo.add_member(member(unit, *user, by, now)).await.unwrap();
    }
    assert!(
        is_duplicate(
            repo.add_member(member(unit, people[0], None, now)).await,
            "member"
        ),
        "once per unit"
    );

    let mut expected: Vec<Member> = people
        .iter()
        .enumerate()
        .map(|(n, user)| member(unit, *user, (n % 2 == 0).then_some(admin), now))
        .collect();
    expected.sort_by_key(|m| m.user_id);
    assert_eq!(
        repo.list_members(unit, None, 10).await.unwrap(),
        expected,
        "read back as stored, by user id"
    );
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = repo.list_members(unit, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        paged.extend(page.iter().cloned());
        if page.len() < 2 {
            break;
        }
        after = page.last().map(|m| m.user_id);
    }
    assert_eq!(paged, expected, "keyset pages");

    // Per unit.
    for other in [
        UnitRef::institution(i.id),
        UnitRef::department(d.id),
        UnitRef::institution(c.id),
    ] {
        assert!(repo.list_members(other, None, 10).await.unwrap().is_empty());
    }
    repo.add_member(member(UnitRef::department(d.id), people[0], None, now))
        .await
        .expect("member of the campus and of its department");
    repo.add_member(member(UnitRef::institution(i.id), people[0], None, now))
        .await
        .unwrap();
    assert_eq!(repo.list_members(unit, None, 10).await.unwrap(), expected);

    // Unknown unit, user or adder.
    let unknown = Uuid::new_v4();
    for unit in [
        UnitRef::institution(unknown),
        UnitRef::campus(unknown),
        UnitRef::department(unknown),
        UnitRef::campus(d.id),
    ] {
        assert!(
            is_not_found(repo.add_member(member(unit, people[1], None, now)).await),
            "{unit}"
        );
        assert!(repo.list_members(unit, None, 10).await.unwrap().is_empty());
    }
    assert!(is_not_found(
        repo.add_member(member(unit, unknown, None, now)).await
    ));
    let newcomer = existing_user(users, now).await.0;
    assert!(is_not_found(
        repo.add_member(member(unit, newcomer, Some(unknown), now))
            .await
    ));
    assert_eq!(
        repo.list_members(unit, None, 10).await.unwrap(),
        expected,
        "refusals change nothing"
    );

    // Removal.
    repo.remove_member(unit, people[2]).await.unwrap();
    assert!(is_not_found(repo.remove_member(unit, people[2]).await));
    assert!(is_not_found(
        repo.remove_member(UnitRef::department(d.id), people[2])
            .await
    ));
    expected.retain(|m| m.user_id != people[2]);
    assert_eq!(repo.list_members(unit, None, 10).await.unwrap(), expected);
    assert_eq!(
        repo.list_members(UnitRef::department(d.id), None, 10)
            .await
            .unwrap()
            .len(),
        1,
        "other units keep their members"
    );
    repo.add_member(member(unit, people[2], None, now))
        .await
        .expect("a removed member can be added again");
}

/// Deleting a unit deletes everything below it and the memberships of all of it, and
/// nothing else; its name is free again; a unit can be deleted once.
pub async fn deletes_cascade(repo: &dyn OrgRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let user = existing_user(users, now).await.0;
    let (i, c, d) = small_tree(repo, now).await;
    let c2 = campus(i.id, "Second campus", now);
    repo.insert_campus(c2.clone()).await.unwrap();
    let d2 = department(&c, "Second department", now);
    let d3 = department(&c2, "Third department", now);
    repo.insert_department(d2.clone()).await.unwrap();
    repo.insert_department(d3.clone()).await.unwrap();
    let (keep_i, keep_c, keep_d) = small_tree(repo, now).await;
    let units = [
        UnitRef::institution(i.id),
        UnitRef::campus(c.id),
        UnitRef::campus(c2.id),
        UnitRef::department(d.id),
        UnitRef::department(d2.id),
        UnitRef::department(d3.id),
        UnitRef::institution(keep_i.id),
        UnitRef::campus(keep_c.id),
        UnitRef::department(keep_d.id),
    ];
    for unit in units {
        repo.add_member(member(unit, user, None, now))
            .await
            .unwrap();
    }
    let members_of = async |unit| repo.list_members(unit, None, 10).await.unwrap().len();

    // A department.
    repo.delete_department(d.id).await.unwrap();
    assert_eq!(repo.department(d.id).await.unwrap(), None);
    assert_eq!(members_of(UnitRef::department(d.id)).await, 0);
    assert!(repo.campus(c.id).await.unwrap().is_some());
    assert_eq!(members_of(UnitRef::campus(c.id)).await, 1);
    assert!(is_not_found(repo.delete_department(d.id).await));
    repo.insert_department(department(&c, &d.name, now))
        .await
        .expect("the name is free again");

    // A campus, with its departments.
    repo.delete_campus(c.id).await.unwrap();
    assert_eq!(repo.campus(c.id).await.unwrap(), None);
    assert!(
        repo.list_departments(Some(c.id), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(repo.department(d2.id).await.unwrap(), None);
    assert_eq!(members_of(UnitRef::campus(c.id)).await, 0);
    assert_eq!(members_of(UnitRef::department(d2.id)).await, 0);
    assert!(
        repo.department(d3.id).await.unwrap().is_some(),
        "a sibling's"
    );
    assert_eq!(members_of(UnitRef::department(d3.id)).await, 1);
    assert!(is_not_found(repo.delete_campus(c.id).await));

    // An institution, with everything below it.
    repo.delete_institution(i.id).await.unwrap();
    assert_eq!(repo.institution(i.id).await.unwrap(), None);
    assert_eq!(repo.campus(c2.id).await.unwrap(), None);
    assert_eq!(repo.department(d3.id).await.unwrap(), None);
    assert!(
        repo.list_campuses(Some(i.id), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for unit in &units[..6] {
        assert_eq!(members_of(*unit).await, 0, "{unit}");
    }
    assert!(is_not_found(repo.delete_institution(i.id).await));
    assert!(is_not_found(
        repo.add_member(member(UnitRef::campus(c2.id), user, None, now))
            .await
    ));

    // The other tree is untouched.
    assert_eq!(
        repo.institution(keep_i.id).await.unwrap(),
        Some(keep_i.clone())
    );
    assert_eq!(repo.campus(keep_c.id).await.unwrap(), Some(keep_c));
    assert_eq!(repo.department(keep_d.id).await.unwrap(), Some(keep_d));
    for unit in &units[6..] {
        assert_eq!(members_of(*unit).await, 1, "{unit}");
    }
    repo.insert_institution(institution(&i.name, None, now))
        .await
        .expect("the name is free again");

    let unknown = Uuid::new_v4();
    assert!(is_not_found(repo.delete_institution(unknown).await));
    assert!(is_not_found(repo.delete_campus(unknown).await));
    assert!(is_not_found(repo.delete_department(unknown).await));
}

/// Members added while their institution is being deleted either arrive first and are
/// deleted with it, or find the unit gone: no membership outlives its unit.
pub async fn deletes_race_with_adds(repo: &dyn OrgRepository, users: &dyn UserRepository) {
    let now = clock().now();
    let (i, c, d) = small_tree(repo, now).await;
    let units = [
        UnitRef::institution(i.id),
        UnitRef::campus(c.id),
        UnitRef::department(d.id),
    ];
    let mut people = Vec::new();
    for _ in 0..18 {
        people.push(existing_user(users, now).await.0);
    }
    let adds = people
        .iter()
        .enumerate()
        .map(|(n, user)| repo.add_member(member(units[n % 3], *user, None, now)));
    let (added, deleted) = tokio::join!(
        futures_util::future::join_all(adds),
        repo.delete_institution(i.id)
    );
    deleted.unwrap();
    for result in added {
        assert!(
            matches!(result, Ok(()) | Err(StoreError::NotFound)),
            "{result:?}"
        );
    }
    for unit in units {
        assert!(
            repo.list_members(unit, None, 100).await.unwrap().is_empty(),
            "{unit} has no members left"
        );
    }
}
