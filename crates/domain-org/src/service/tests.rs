//! Unit tests of [`OrgService`] against a mockall mock of its port.
//!
//! The mock is strict: a port method called without a matching expectation panics, so
//! "nothing was stored" is asserted by not setting an expectation. `times(n)`
//! expectations are verified when the service, and with it the mock, is dropped.

use chrono::{Duration, TimeZone};
use domain_core::ManualClock;

use super::*;
use crate::ports::MockOrgRepository;

/// A fixed instant with nanoseconds, deliberately not the wall clock: the service must
/// use its `Clock`, and keep only microseconds.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

fn start_micros() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::microseconds(123_456)
}

fn service(repo: MockOrgRepository) -> OrgService {
    OrgService::new(Arc::new(repo), Arc::new(ManualClock::new(start())))
}

fn institution(id: Uuid, name: &str) -> Institution {
    Institution {
        id,
        name: name.into(),
        created_by: None,
        created_at: start_micros(),
    }
}

fn campus(id: Uuid, institution_id: Uuid, name: &str) -> Campus {
    Campus {
        id,
        institution_id,
        name: name.into(),
        created_by: None,
        created_at: start_micros(),
    }
}

fn department(id: Uuid, campus_id: Uuid, institution_id: Uuid, name: &str) -> Department {
    Department {
        id,
        campus_id,
        institution_id,
        name: name.into(),
        created_by: None,
        created_at: start_micros(),
    }
}

fn is_invalid_name(e: &OrgError) -> bool {
    matches!(e, OrgError::Invalid { field, .. } if field == "name")
}

fn is_not_found(e: &OrgError, what: &str) -> bool {
    matches!(e, OrgError::NotFound(w) if w == what)
}

// ---------------------------------------------------------------------------------------
// names
// ---------------------------------------------------------------------------------------

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(
        valid_name("  Agora University \t").unwrap(),
        "Agora University"
    );
    assert_eq!(valid_name("É").unwrap(), "É");
    let longest = "é".repeat(NAME_MAX_CHARS);
    assert_eq!(
        valid_name(&longest).unwrap(),
        longest,
        "counted in characters"
    );
    for bad in [
        "",
        "   ",
        "\n\t",
        &"x".repeat(NAME_MAX_CHARS + 1),
        "line\nbreak",
        "nul\0",
        "bell\u{7}",
        "del\u{7f}",
        "c1\u{85}control",
    ] {
        let e = valid_name(bad).unwrap_err();
        assert!(is_invalid_name(&e), "{bad:?}: {e:?}");
    }
}

#[tokio::test]
async fn invalid_names_never_reach_the_store() {
    // No expectations: any port call would panic.
    let svc = service(MockOrgRepository::new());
    let id = Uuid::new_v4();
    let too_long = "n".repeat(NAME_MAX_CHARS + 1);
    let errors = [
        svc.create_institution(None, " ").await.unwrap_err(),
        svc.create_campus(None, id, "a\u{1b}b").await.unwrap_err(),
        svc.create_department(None, id, &too_long)
            .await
            .unwrap_err(),
        svc.rename_institution(id, "").await.unwrap_err(),
        svc.rename_campus(id, "\r").await.unwrap_err(),
        svc.rename_department(id, &too_long).await.unwrap_err(),
    ];
    for e in errors {
        assert!(is_invalid_name(&e), "{e:?}");
    }
}

// ---------------------------------------------------------------------------------------
// institutions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_institution_stores_what_it_returns() {
    let actor = Uuid::new_v4();
    let stored = Arc::new(std::sync::Mutex::new(None));
    let mut repo = MockOrgRepository::new();
    let seen = stored.clone();
    repo.expect_insert_institution()
        .times(1)
        .returning(move |i| {
            *seen.lock().unwrap() = Some(i);
            Ok(())
        });
    let created = service(repo)
        .create_institution(Some(actor), "  Agora University ")
        .await
        .unwrap();
    assert_eq!(created.name, "Agora University");
    assert_eq!(created.created_by, Some(actor));
    assert_eq!(
        created.created_at,
        start_micros(),
        "clock time, to the microsecond"
    );
    assert_eq!(stored.lock().unwrap().as_ref(), Some(&created));
}

#[tokio::test]
async fn duplicate_institution_name_is_a_conflict() {
    let mut repo = MockOrgRepository::new();
    repo.expect_insert_institution()
        .returning(|_| Err(StoreError::Duplicate("name".into())));
    let e = service(repo)
        .create_institution(None, "Agora")
        .await
        .unwrap_err();
    assert!(
        matches!(e, OrgError::Conflict(ref m) if m.contains("name")),
        "{e:?}"
    );
}

#[tokio::test]
async fn store_failures_pass_through() {
    let mut repo = MockOrgRepository::new();
    repo.expect_insert_institution()
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    repo.expect_list_institutions()
        .returning(|_, _| Err(StoreError::Unavailable("down".into())));
    let svc = service(repo);
    assert!(matches!(
        svc.create_institution(None, "Agora").await,
        Err(OrgError::Store(StoreError::Unavailable(_)))
    ));
    assert!(matches!(
        svc.list_institutions(None, 10).await,
        Err(OrgError::Store(StoreError::Unavailable(_)))
    ));
}

#[tokio::test]
async fn get_institution() {
    let (id, missing) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_institution()
        .withf(move |i| *i == id)
        .returning(move |i| Ok(Some(institution(i, "Agora"))));
    repo.expect_institution()
        .withf(move |i| *i == missing)
        .returning(|_| Ok(None));
    let svc = service(repo);
    assert_eq!(svc.institution(id).await.unwrap().name, "Agora");
    let e = svc.institution(missing).await.unwrap_err();
    assert!(is_not_found(&e, "institution"), "{e:?}");
}

#[tokio::test]
async fn list_institutions_passes_the_page_through() {
    let after = Uuid::new_v4();
    let page = vec![institution(Uuid::new_v4(), "A")];
    let returned = page.clone();
    let mut repo = MockOrgRepository::new();
    repo.expect_list_institutions()
        .withf(move |a, l| *a == Some(after) && *l == 7)
        .times(1)
        .returning(move |_, _| Ok(returned.clone()));
    assert_eq!(
        service(repo)
            .list_institutions(Some(after), 7)
            .await
            .unwrap(),
        page
    );
}

#[tokio::test]
async fn rename_institution_returns_it_renamed() {
    let id = Uuid::new_v4();
    let mut repo = MockOrgRepository::new();
    repo.expect_rename_institution()
        .withf(move |i, n| *i == id && n == "New name")
        .times(1)
        .returning(|_, _| Ok(()));
    repo.expect_institution()
        .times(1)
        .returning(move |i| Ok(Some(institution(i, "New name"))));
    let renamed = service(repo)
        .rename_institution(id, " New name ")
        .await
        .unwrap();
    assert_eq!((renamed.id, renamed.name.as_str()), (id, "New name"));
}

#[tokio::test]
async fn rename_institution_errors() {
    let (missing, clash) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_rename_institution()
        .withf(move |i, _| *i == missing)
        .returning(|_, _| Err(StoreError::NotFound));
    repo.expect_rename_institution()
        .withf(move |i, _| *i == clash)
        .returning(|_, _| Err(StoreError::Duplicate("name".into())));
    let svc = service(repo);
    let e = svc.rename_institution(missing, "X").await.unwrap_err();
    assert!(is_not_found(&e, "institution"), "{e:?}");
    let e = svc.rename_institution(clash, "X").await.unwrap_err();
    assert!(matches!(e, OrgError::Conflict(_)), "{e:?}");
}

#[tokio::test]
async fn rename_then_deleted_is_not_found() {
    let mut repo = MockOrgRepository::new();
    repo.expect_rename_institution().returning(|_, _| Ok(()));
    repo.expect_institution().returning(|_| Ok(None));
    let e = service(repo)
        .rename_institution(Uuid::new_v4(), "X")
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "institution"), "{e:?}");
}

#[tokio::test]
async fn deletes_map_not_found_to_their_kind() {
    let mut repo = MockOrgRepository::new();
    repo.expect_delete_institution()
        .returning(|_| Err(StoreError::NotFound));
    repo.expect_delete_campus()
        .returning(|_| Err(StoreError::NotFound));
    repo.expect_delete_department()
        .returning(|_| Err(StoreError::NotFound));
    let svc = service(repo);
    let id = Uuid::new_v4();
    let e = svc.delete_institution(id).await.unwrap_err();
    assert!(is_not_found(&e, "institution"), "{e:?}");
    let e = svc.delete_campus(id).await.unwrap_err();
    assert!(is_not_found(&e, "campus"), "{e:?}");
    let e = svc.delete_department(id).await.unwrap_err();
    assert!(is_not_found(&e, "department"), "{e:?}");
}

#[tokio::test]
async fn deletes_succeed() {
    let id = Uuid::new_v4();
    let mut repo = MockOrgRepository::new();
    repo.expect_delete_institution()
        .withf(move |i| *i == id)
        .times(1)
        .returning(|_| Ok(()));
    repo.expect_delete_campus()
        .withf(move |i| *i == id)
        .times(1)
        .returning(|_| Ok(()));
    repo.expect_delete_department()
        .withf(move |i| *i == id)
        .times(1)
        .returning(|_| Ok(()));
    let svc = service(repo);
    svc.delete_institution(id).await.unwrap();
    svc.delete_campus(id).await.unwrap();
    svc.delete_department(id).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// campuses
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_campus_under_its_institution() {
    let (actor, inst) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_insert_campus()
        .withf(move |c| {
            c.institution_id == inst && c.name == "North" && c.created_by == Some(actor)
        })
        .times(1)
        .returning(|_| Ok(()));
    let c = service(repo)
        .create_campus(Some(actor), inst, "North")
        .await
        .unwrap();
    assert_eq!(
        (c.institution_id, c.name.as_str(), c.created_at),
        (inst, "North", start_micros())
    );
}

#[tokio::test]
async fn create_campus_errors() {
    let (missing, clash) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_insert_campus()
        .withf(move |c| c.institution_id == missing)
        .returning(|_| Err(StoreError::NotFound));
    repo.expect_insert_campus()
        .withf(move |c| c.institution_id == clash)
        .returning(|_| Err(StoreError::Duplicate("name".into())));
    let svc = service(repo);
    let e = svc.create_campus(None, missing, "North").await.unwrap_err();
    assert!(is_not_found(&e, "institution"), "{e:?}");
    let e = svc.create_campus(None, clash, "North").await.unwrap_err();
    assert!(matches!(e, OrgError::Conflict(_)), "{e:?}");
}

#[tokio::test]
async fn get_and_rename_campus() {
    let (id, inst) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_campus()
        .returning(move |c| Ok((c == id).then(|| campus(c, inst, "South"))));
    repo.expect_rename_campus()
        .withf(move |c, n| *c == id && n == "South")
        .times(1)
        .returning(|_, _| Ok(()));
    repo.expect_rename_campus()
        .withf(move |c, _| *c != id)
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = service(repo);
    assert_eq!(svc.campus(id).await.unwrap().institution_id, inst);
    assert!(is_not_found(
        &svc.campus(Uuid::new_v4()).await.unwrap_err(),
        "campus"
    ));
    assert_eq!(svc.rename_campus(id, "South").await.unwrap().name, "South");
    let e = svc
        .rename_campus(Uuid::new_v4(), "South")
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "campus"), "{e:?}");
}

#[tokio::test]
async fn list_campuses_of_an_institution() {
    let (inst, c) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_list_campuses()
        .withf(move |i, a, l| *i == Some(inst) && a.is_none() && *l == 20)
        .times(1)
        .returning(move |i, _, _| Ok(vec![campus(c, i.unwrap_or_default(), "A")]));
    // A non-empty page needs no check that the institution exists.
    let page = service(repo)
        .list_campuses(Some(inst), None, 20)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
}

#[tokio::test]
async fn empty_campus_page_of_a_missing_institution_is_not_found() {
    let (missing, empty) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_list_campuses().returning(|_, _, _| Ok(vec![]));
    repo.expect_institution()
        .withf(move |i| *i == missing)
        .times(1)
        .returning(|_| Ok(None));
    repo.expect_institution()
        .withf(move |i| *i == empty)
        .times(1)
        .returning(|i| Ok(Some(institution(i, "Empty"))));
    let svc = service(repo);
    let e = svc
        .list_campuses(Some(missing), None, 20)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "institution"), "{e:?}");
    assert!(
        svc.list_campuses(Some(empty), None, 20)
            .await
            .unwrap()
            .is_empty()
    );
    // No filter: an empty list is just empty.
    assert!(svc.list_campuses(None, None, 20).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// departments
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn create_department_takes_the_institution_from_its_campus() {
    let (actor, inst, camp) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_campus()
        .withf(move |c| *c == camp)
        .times(1)
        .returning(move |c| Ok(Some(campus(c, inst, "North"))));
    repo.expect_insert_department()
        .withf(move |d| {
            d.campus_id == camp
                && d.institution_id == inst
                && d.name == "Physics"
                && d.created_by == Some(actor)
        })
        .times(1)
        .returning(|_| Ok(()));
    let d = service(repo)
        .create_department(Some(actor), camp, " Physics")
        .await
        .unwrap();
    assert_eq!(
        (d.campus_id, d.institution_id, d.created_at),
        (camp, inst, start_micros())
    );
}

#[tokio::test]
async fn create_department_errors() {
    let (missing, clash, gone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let inst = Uuid::new_v4();
    let mut repo = MockOrgRepository::new();
    repo.expect_campus()
        .returning(move |c| Ok((c != missing).then(|| campus(c, inst, "C"))));
    repo.expect_insert_department()
        .withf(move |d| d.campus_id == clash)
        .returning(|_| Err(StoreError::Duplicate("name".into())));
    repo.expect_insert_department()
        .withf(move |d| d.campus_id == gone)
        .returning(|_| Err(StoreError::NotFound));
    let svc = service(repo);
    let e = svc.create_department(None, missing, "D").await.unwrap_err();
    assert!(is_not_found(&e, "campus"), "{e:?}");
    let e = svc.create_department(None, clash, "D").await.unwrap_err();
    assert!(matches!(e, OrgError::Conflict(_)), "{e:?}");
    let e = svc.create_department(None, gone, "D").await.unwrap_err();
    assert!(
        is_not_found(&e, "campus"),
        "deleted after it was read: {e:?}"
    );
}

#[tokio::test]
async fn get_rename_and_list_departments() {
    let (id, camp, inst) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_department()
        .returning(move |d| Ok((d == id).then(|| department(d, camp, inst, "Maths"))));
    repo.expect_rename_department()
        .withf(move |d, n| *d == id && n == "Maths")
        .returning(|_, _| Ok(()));
    repo.expect_rename_department()
        .withf(move |d, _| *d != id)
        .returning(|_, _| Err(StoreError::Duplicate("name".into())));
    repo.expect_list_departments()
        .withf(move |c, _, _| *c == Some(camp))
        .returning(move |_, _, _| Ok(vec![department(id, camp, inst, "Maths")]));
    repo.expect_list_departments()
        .withf(move |c, _, _| *c != Some(camp))
        .returning(|_, _, _| Ok(vec![]));
    repo.expect_campus().returning(|_| Ok(None));
    let svc = service(repo);
    assert_eq!(svc.department(id).await.unwrap().campus_id, camp);
    assert!(is_not_found(
        &svc.department(Uuid::new_v4()).await.unwrap_err(),
        "department"
    ));
    assert_eq!(
        svc.rename_department(id, "Maths").await.unwrap().name,
        "Maths"
    );
    assert!(matches!(
        svc.rename_department(Uuid::new_v4(), "Maths").await,
        Err(OrgError::Conflict(_))
    ));
    assert_eq!(
        svc.list_departments(Some(camp), None, 5)
            .await
            .unwrap()
            .len(),
        1
    );
    let e = svc
        .list_departments(Some(Uuid::new_v4()), None, 5)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "campus"), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// members
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn add_member_records_who_and_when() {
    let (actor, user, dept) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let unit = UnitRef::department(dept);
    let mut repo = MockOrgRepository::new();
    repo.expect_add_member()
        .withf(move |m| m.unit == unit && m.user_id == user && m.added_by == Some(actor))
        .times(1)
        .returning(|_| Ok(()));
    let m = service(repo)
        .add_member(Some(actor), unit, user)
        .await
        .unwrap();
    assert_eq!(
        m,
        Member {
            unit,
            user_id: user,
            added_by: Some(actor),
            added_at: start_micros(),
        }
    );
}

#[tokio::test]
async fn add_member_says_what_is_missing() {
    let (here, gone) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_add_member()
        .returning(|_| Err(StoreError::NotFound));
    repo.expect_campus()
        .returning(move |c| Ok((c == here).then(|| campus(c, Uuid::new_v4(), "C"))));
    let svc = service(repo);
    let e = svc
        .add_member(None, UnitRef::campus(gone), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "campus"), "{e:?}");
    let e = svc
        .add_member(None, UnitRef::campus(here), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(
        is_not_found(&e, "user"),
        "the unit exists, so the user does not: {e:?}"
    );
}

#[tokio::test]
async fn add_member_twice_is_a_conflict() {
    let mut repo = MockOrgRepository::new();
    repo.expect_add_member()
        .returning(|_| Err(StoreError::Duplicate("member".into())));
    let e = service(repo)
        .add_member(None, UnitRef::institution(Uuid::new_v4()), Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(
        matches!(e, OrgError::Conflict(ref m) if m.contains("member")),
        "{e:?}"
    );
}

#[tokio::test]
async fn remove_member() {
    let (unit, user) = (UnitRef::institution(Uuid::new_v4()), Uuid::new_v4());
    let mut repo = MockOrgRepository::new();
    repo.expect_remove_member()
        .withf(move |u, id| *u == unit && *id == user)
        .times(1)
        .returning(|_, _| Ok(()));
    repo.expect_remove_member()
        .withf(move |_, id| *id != user)
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = service(repo);
    svc.remove_member(unit, user).await.unwrap();
    let e = svc.remove_member(unit, Uuid::new_v4()).await.unwrap_err();
    assert!(is_not_found(&e, "member"), "{e:?}");
}

#[tokio::test]
async fn list_members_of_each_kind_of_unit() {
    let (inst, camp, dept, after) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let member = Member {
        unit: UnitRef::institution(inst),
        user_id: Uuid::new_v4(),
        added_by: None,
        added_at: start_micros(),
    };
    let listed = member.clone();
    let mut repo = MockOrgRepository::new();
    repo.expect_list_members()
        .withf(move |u, a, l| *u == UnitRef::institution(inst) && *a == Some(after) && *l == 3)
        .times(1)
        .returning(move |_, _, _| Ok(vec![listed.clone()]));
    repo.expect_list_members()
        .withf(move |u, _, _| u.kind != UnitKind::Institution)
        .returning(|_, _, _| Ok(vec![]));
    repo.expect_campus()
        .returning(move |c| Ok((c == camp).then(|| campus(c, inst, "C"))));
    repo.expect_department().returning(|_| Ok(None));
    let svc = service(repo);
    assert_eq!(
        svc.list_members(UnitRef::institution(inst), Some(after), 3)
            .await
            .unwrap(),
        vec![member]
    );
    assert!(
        svc.list_members(UnitRef::campus(camp), None, 3)
            .await
            .unwrap()
            .is_empty(),
        "an existing unit without members"
    );
    let e = svc
        .list_members(UnitRef::department(dept), None, 3)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "department"), "{e:?}");
}

#[test]
fn service_is_clone_and_shares_its_ports() {
    let svc = service(MockOrgRepository::new());
    let copy = svc.clone();
    assert!(Arc::ptr_eq(&svc.repo, &copy.repo));
    assert!(Arc::ptr_eq(&svc.clock, &copy.clock));
}
