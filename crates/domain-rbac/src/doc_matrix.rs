//! Keeps the default permission matrix in `docs/rbac.md` in step with [`default_roles`].
//!
//! The matrix lies between [`BEGIN`] and [`END`] in the document. When a default role
//! changes, the test below fails and prints the text to paste there.

use crate::{Action, Policy, ResourceType, default_roles, perm};

const BEGIN: &str =
    "<!-- default-matrix:begin (generated; see crates/domain-rbac/src/doc_matrix.rs) -->";
const END: &str = "<!-- default-matrix:end -->";

fn doc_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rbac.md")
}

/// The matrix: one table per resource type, a row per action, a column per default role
/// (highest rank first), ✓ where the role allows it after inheritance (before overrides,
/// without ownership).
pub(crate) fn default_matrix() -> String {
    let roles = default_roles();
    let policy = Policy::new(roles.clone(), vec![], 0);
    let mut out = String::new();
    let header: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    for resource in ResourceType::ALL {
        out.push_str(&format!("#### `{}`\n\n", resource.as_str()));
        out.push_str(&format!("| action | {} |\n", header.join(" | ")));
        out.push_str(&format!("|---|{}\n", ":-:|".repeat(header.len())));
        for action in Action::ALL {
            let p = perm(*resource, *action);
            let cells: Vec<&str> = roles
                .iter()
                .map(|r| {
                    let allowed = policy
                        .effective_permissions(&r.name)
                        .is_some_and(|set| set.contains(&p));
                    if allowed { "✓" } else { " " }
                })
                .collect();
            out.push_str(&format!(
                "| `{}` | {} |\n",
                action.as_str(),
                cells.join(" | ")
            ));
        }
        out.push('\n');
    }
    out.trim_end().to_owned()
}

#[test]
fn docs_show_the_default_matrix() {
    let expected = default_matrix();
    let doc = std::fs::read_to_string(doc_path()).unwrap_or_default();
    let found = doc
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(matrix, _)| matrix.trim());
    if found != Some(expected.as_str()) {
        panic!(
            "docs/rbac.md: the default matrix is missing or out of date. Put this between \
             the markers\n{BEGIN}\n…\n{END}\n\n{BEGIN}\n{expected}\n{END}\n"
        );
    }
}

#[test]
fn matrix_covers_the_whole_catalogue() {
    let m = default_matrix();
    assert_eq!(m.matches("#### ").count(), ResourceType::ALL.len());
    let rows = m.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(rows, ResourceType::ALL.len() * Action::ALL.len());
    // super_admin allows everything
    assert!(
        m.lines()
            .filter(|l| l.starts_with("| `"))
            .all(|l| l.split('|').nth(2).is_some_and(|c| c.trim() == "✓"))
    );
}
