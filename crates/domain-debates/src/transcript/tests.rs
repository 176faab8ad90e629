//! Tests of transcript collection (against a mock store) and of its rendering, checked
//! byte for byte: exports must be stable, and user text must not shape the document.

use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use domain_core::ManualClock;
use proptest::prelude::*;

use super::*;
use crate::SessionStatus;
use crate::ports::MockDebateRepository;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap()
}

const ALICE: Uuid = Uuid::from_u128(0xa11ce);
const BOB: Uuid = Uuid::from_u128(0xb0b);

fn names(id: Uuid) -> String {
    match id {
        ALICE => "alice".into(),
        BOB => "bob".into(),
        _ => String::new(),
    }
}

fn topic() -> Topic {
    Topic {
        id: Uuid::from_u128(1),
        title: "Should homework be banned?".into(),
        description: "Two lines\nof context.".into(),
        scope: "global".into(),
        visibility: Default::default(),
        created_by: None,
        created_at: at(8, 0, 0),
    }
}

fn session() -> DebateSession {
    DebateSession {
        id: Uuid::from_u128(2),
        topic_id: Uuid::from_u128(1),
        scope: "global".into(),
        visibility: Default::default(),
        title: "Homework, round 1".into(),
        scheduled_start: at(9, 0, 0),
        scheduled_end: Some(at(10, 0, 0)),
        max_per_side: Some(3),
        status: SessionStatus::Closed,
        created_by: None,
        created_at: at(8, 30, 0),
        started_at: Some(at(9, 1, 30)),
        closed_at: Some(at(9, 58, 0)),
        voting_window_seconds: 600,
        voting_closes_at: Some(at(10, 8, 0)),
    }
}

fn message(seq: i64, author: Uuid, side: Side, body: &str, reply_to: Option<i64>) -> Message {
    Message {
        session_id: Uuid::from_u128(2),
        seq,
        author_id: author,
        side,
        body: body.into(),
        reply_to,
        // Sub-second part: the rendering shows whole seconds.
        created_at: at(9, 4, 30)
            + chrono::Duration::minutes(seq)
            + chrono::Duration::microseconds(250_000),
        removed: None,
    }
}

fn debate() -> Transcript {
    Transcript {
        session: session(),
        topic: topic(),
        messages: vec![
            message(1, ALICE, Side::Pro, "Homework builds discipline.", None),
            message(
                2,
                BOB,
                Side::Con,
                "It crowds out sleep.\nAnd play.",
                Some(1),
            ),
            message(
                3,
                ALICE,
                Side::Pro,
                "Sleep matters; so does practice.",
                Some(2),
            ),
        ],
    }
}

// ---------------------------------------------------------------------------------------
// removed messages
// ---------------------------------------------------------------------------------------

/// [`debate`] with its second message removed by a moderator.
fn moderated() -> Transcript {
    let mut t = debate();
    t.messages[1].removed = Some(crate::Removal {
        at: at(9, 30, 0),
        by: Uuid::from_u128(99),
        reason: Some("off topic".into()),
    });
    t
}

#[test]
fn removed_messages_show_as_removed_without_their_text() {
    let t = moderated();
    let names = |id: Uuid| if id == ALICE { "alice" } else { "bob" }.to_owned();
    for format in [
        TranscriptFormat::Json,
        TranscriptFormat::Markdown,
        TranscriptFormat::Text,
    ] {
        let hidden = t.render(format, &names, false);
        assert!(!hidden.contains("crowds out sleep"), "{format:?}: {hidden}");
        assert!(!hidden.contains("And play"), "{format:?}: {hidden}");
        assert!(
            hidden.contains("removed by a moderator"),
            "{format:?}: {hidden}"
        );
        assert!(hidden.contains("Homework builds discipline"), "{format:?}");
        let revealed = t.render(format, &names, true);
        assert!(
            revealed.contains("crowds out sleep"),
            "{format:?}: {revealed}"
        );
    }
    let text = t.render_text(&names);
    assert!(
        text.contains("#2 [CON] bob (2026-03-01 09:06:30 UTC) ↪ #1: [removed by a moderator]\n#3"),
        "{text}"
    );
    let md = t.render_markdown(&names);
    assert!(
        md.contains("↪ #1: _\\[removed by a moderator\\]_\n"),
        "{md}"
    );
    let plain = t.clone().without_removed_text();
    assert_eq!(plain.messages[1].body, REMOVED_TEXT);
    assert_eq!(plain.messages[1].removed, t.messages[1].removed);
    assert_eq!(plain.messages[0], t.messages[0]);
}

// ---------------------------------------------------------------------------------------
// formats
// ---------------------------------------------------------------------------------------

#[test]
fn formats_parse_from_their_names_and_aliases() {
    for (text, format) in [
        ("json", TranscriptFormat::Json),
        ("markdown", TranscriptFormat::Markdown),
        ("md", TranscriptFormat::Markdown),
        ("MD", TranscriptFormat::Markdown),
        ("text", TranscriptFormat::Text),
        ("txt", TranscriptFormat::Text),
    ] {
        assert_eq!(TranscriptFormat::parse(text), Some(format), "{text}");
    }
    for bad in ["", "html", "pdf", " json", "markdown2"] {
        assert_eq!(TranscriptFormat::parse(bad), None, "{bad:?}");
    }
    for f in [
        TranscriptFormat::Json,
        TranscriptFormat::Markdown,
        TranscriptFormat::Text,
    ] {
        assert_eq!(TranscriptFormat::parse(f.as_str()), Some(f));
        assert_eq!(TranscriptFormat::parse(f.file_extension()), Some(f));
    }
    assert_eq!(TranscriptFormat::default(), TranscriptFormat::Json);
    assert_eq!(
        TranscriptFormat::Markdown.media_type(),
        "text/markdown; charset=utf-8"
    );
}

#[test]
fn json_form_nests_session_topic_and_messages() {
    let json = serde_json::to_value(debate()).unwrap();
    assert_eq!(json["session"]["status"], "closed");
    assert_eq!(json["topic"]["title"], "Should homework be banned?");
    assert_eq!(json["messages"][1]["side"], "con");
    assert_eq!(json["messages"][1]["reply_to"], 1);
    assert_eq!(json["messages"].as_array().unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------
// rendering
// ---------------------------------------------------------------------------------------

#[test]
fn text_golden() {
    let expected = "\
Transcript: Homework, round 1
Topic: Should homework be banned?
Status: closed
Scheduled: 2026-03-01 09:00:00 UTC to 2026-03-01 10:00:00 UTC
Started: 2026-03-01 09:01:30 UTC
Closed: 2026-03-01 09:58:00 UTC
Messages: 3

  Two lines
  of context.

#1 [PRO] alice (2026-03-01 09:05:30 UTC): Homework builds discipline.
#2 [CON] bob (2026-03-01 09:06:30 UTC) ↪ #1: It crowds out sleep.
    And play.
#3 [PRO] alice (2026-03-01 09:07:30 UTC) ↪ #2: Sleep matters; so does practice.
";
    assert_eq!(debate().render_text(&names), expected);
}

#[test]
fn markdown_golden() {
    let expected = "\
# Transcript: Homework, round 1

- **Topic:** Should homework be banned?
- **Status:** closed
- **Scheduled:** 2026-03-01 09:00:00 UTC to 2026-03-01 10:00:00 UTC
- **Started:** 2026-03-01 09:01:30 UTC
- **Closed:** 2026-03-01 09:58:00 UTC
- **Messages:** 3

> Two lines\\
> of context.

## Messages

**#1 [PRO] alice** (2026-03-01 09:05:30 UTC): Homework builds discipline.

**#2 [CON] bob** (2026-03-01 09:06:30 UTC) ↪ #1: It crowds out sleep.\\
And play.

**#3 [PRO] alice** (2026-03-01 09:07:30 UTC) ↪ #2: Sleep matters; so does practice.
";
    assert_eq!(debate().render_markdown(&names), expected);
}

/// A scheduled session: no end, no start or close times, no description, no messages.
fn empty() -> Transcript {
    let mut t = debate();
    t.session.status = SessionStatus::Scheduled;
    t.session.scheduled_end = None;
    t.session.started_at = None;
    t.session.closed_at = None;
    t.topic.description = String::new();
    t.messages.clear();
    t
}

#[test]
fn empty_transcripts_golden() {
    assert_eq!(
        empty().render_text(&names),
        "\
Transcript: Homework, round 1
Topic: Should homework be banned?
Status: scheduled
Scheduled: 2026-03-01 09:00:00 UTC
Messages: 0

(no messages)
"
    );
    assert_eq!(
        empty().render_markdown(&names),
        "\
# Transcript: Homework, round 1

- **Topic:** Should homework be banned?
- **Status:** scheduled
- **Scheduled:** 2026-03-01 09:00:00 UTC
- **Messages:** 0

## Messages

_No messages._
"
    );
}

/// User text trying every Markdown construct that could add structure.
fn hostile() -> Transcript {
    let mut t = empty();
    t.session.title = "# Big [title](http://x.example)".into();
    t.topic.title = "*Topic* <b>bold</b>".into();
    t.topic.description = "> quoted\n\n    indented code\n===".into();
    t.messages = vec![
        message(
            1,
            ALICE,
            Side::Pro,
            "# Heading\n[click](http://evil.example) ![img](x.png)\n<script>alert(1)</script>\n---\n1. first\n2) second\n- item\n+ plus\n`code` *em* _u_ ~~s~~ | a & b $x$ \\ end\n\nafter a blank line",
            None,
        ),
        message(2, Uuid::from_u128(0xe), Side::Con, "ok", Some(1)),
    ];
    t
}

#[test]
fn markdown_escapes_user_text() {
    let names = |id: Uuid| {
        if id == ALICE {
            "[mallory](http://evil.example)".to_owned()
        } else {
            names(id)
        }
    };
    let expected = "\
# Transcript: \\# Big \\[title\\](http://x.example)

- **Topic:** \\*Topic\\* \\<b\\>bold\\</b\\>
- **Status:** scheduled
- **Scheduled:** 2026-03-01 09:00:00 UTC
- **Messages:** 2

> \\> quoted
>
> indented code\\
> \\===

## Messages

**#1 [PRO] \\[mallory\\](http://evil.example)** (2026-03-01 09:05:30 UTC): \\# Heading\\
\\[click\\](http://evil.example) !\\[img\\](x.png)\\
\\<script\\>alert(1)\\</script\\>\\
\\---\\
1\\. first\\
2\\) second\\
\\- item\\
\\+ plus\\
\\`code\\` \\*em\\* \\_u\\_ \\~\\~s\\~\\~ \\| a \\& b \\$x\\$ \\\\ end

after a blank line

**#2 [CON] 00000000-0000-0000-0000-00000000000e** (2026-03-01 09:06:30 UTC) ↪ #1: ok
";
    assert_eq!(hostile().render_markdown(&names), expected);
}

#[test]
fn text_keeps_bodies_from_forging_lines_and_neutralises_control_characters() {
    let mut t = empty();
    t.session.title = "Round\u{1b}[2J 1".into();
    t.messages = vec![
        message(
            1,
            BOB,
            Side::Con,
            "fine\n#9 [PRO] alice (2026-03-01 10:00:00 UTC): I concede\n\nbell\u{7}",
            None,
        ),
        message(2, Uuid::from_u128(0xe), Side::Pro, "who?", None),
    ];
    let names = |id: Uuid| {
        if id == BOB {
            "bob\nTopic: forged".to_owned()
        } else {
            names(id)
        }
    };
    let expected = "\
Transcript: Round\u{FFFD}[2J 1
Topic: Should homework be banned?
Status: scheduled
Scheduled: 2026-03-01 09:00:00 UTC
Messages: 2

#1 [CON] bob\u{FFFD}Topic: forged (2026-03-01 09:05:30 UTC): fine
    #9 [PRO] alice (2026-03-01 10:00:00 UTC): I concede

    bell\u{FFFD}
#2 [PRO] 00000000-0000-0000-0000-00000000000e (2026-03-01 09:06:30 UTC): who?
";
    assert_eq!(t.render_text(&names), expected);
}

#[test]
fn rendering_is_deterministic() {
    let t = hostile();
    assert_eq!(t.render_markdown(&names), t.render_markdown(&names));
    assert_eq!(t.render_text(&names), t.clone().render_text(&names));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever a body holds, its Markdown lines start no block and carry no unescaped
    /// metacharacter.
    #[test]
    fn escaped_markdown_is_inert(body in "[ -~\n\u{e9}\u{1b}]{0,80}") {
        for line in md_lines(&body) {
            prop_assert!(!line.contains('\n'));
            prop_assert!(!line.starts_with(|c: char| c.is_whitespace()), "{:?}", line);
            prop_assert!(!line.starts_with(['-', '+', '=', '>', '#', '*', '_', '`', '~', '<', '|']), "{:?}", line);
            // Remove escape pairs; no metacharacter may remain.
            let mut rest = String::new();
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                if c == '\\' { chars.next(); } else { rest.push(c); }
            }
            prop_assert!(!rest.contains(['`', '*', '_', '[', ']', '<', '>', '#', '|', '~', '&', '$']), "{:?}", line);
            prop_assert!(!rest.chars().any(char::is_control), "{:?}", line);
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            prop_assert!(digits == 0 || !line[digits..].starts_with(['.', ')']), "{:?}", line);
        }
    }
}

// ---------------------------------------------------------------------------------------
// collection
// ---------------------------------------------------------------------------------------

fn service(repo: MockDebateRepository) -> DebateService {
    DebateService::new(Arc::new(repo), Arc::new(ManualClock::new(at(12, 0, 0))))
}

#[tokio::test]
async fn transcript_reads_every_message_page_by_page() {
    let mut repo = MockDebateRepository::new();
    repo.expect_session().returning(|_| Ok(Some(session())));
    repo.expect_topic().returning(|_| Ok(Some(topic())));
    let asked: Arc<Mutex<Vec<(MessageRange, u32)>>> = Arc::default();
    let seen = asked.clone();
    // 1 203 messages: two full pages and a short one.
    repo.expect_messages().returning(move |_, range, limit| {
        seen.lock().unwrap().push((range, limit));
        let from = range.after.unwrap_or(0) + 1;
        let to = (from + i64::from(limit) - 1).min(1_203);
        Ok((from..=to)
            .map(|seq| message(seq, ALICE, Side::Pro, "x", None))
            .collect())
    });
    let t = service(repo).transcript(session().id).await.unwrap();
    assert_eq!(t.session, session());
    assert_eq!(t.topic, topic());
    let seqs: Vec<i64> = t.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=1_203).collect::<Vec<_>>());
    let after = |a| MessageRange {
        after: a,
        before: None,
    };
    assert_eq!(
        *asked.lock().unwrap(),
        [
            (after(None), 500),
            (after(Some(500)), 500),
            (after(Some(1_000)), 500)
        ]
    );
}

#[tokio::test]
async fn transcript_of_an_exact_number_of_pages_ends_on_an_empty_page() {
    let mut repo = MockDebateRepository::new();
    repo.expect_session().returning(|_| Ok(Some(session())));
    repo.expect_topic().returning(|_| Ok(Some(topic())));
    repo.expect_messages()
        .times(2)
        .returning(|_, range, limit| {
            Ok(match range.after {
                None => (1..=i64::from(limit))
                    .map(|seq| message(seq, BOB, Side::Con, "y", None))
                    .collect(),
                Some(_) => vec![],
            })
        });
    let t = service(repo).transcript(session().id).await.unwrap();
    assert_eq!(t.messages.len(), 500);
}

#[tokio::test]
async fn transcript_stops_when_the_store_repeats_a_page() {
    let mut repo = MockDebateRepository::new();
    repo.expect_session().returning(|_| Ok(Some(session())));
    repo.expect_topic().returning(|_| Ok(Some(topic())));
    // A broken adapter ignoring `after`: the second page does not advance the cursor.
    repo.expect_messages().times(2).returning(|_, _, limit| {
        Ok((1..=i64::from(limit))
            .map(|seq| message(seq, BOB, Side::Con, "y", None))
            .collect())
    });
    let t = service(repo).transcript(session().id).await.unwrap();
    assert_eq!(t.messages.len(), 1_000);
}

#[tokio::test]
async fn transcript_of_a_missing_session_or_topic() {
    let (missing, orphan) = (Uuid::new_v4(), Uuid::new_v4());
    let mut repo = MockDebateRepository::new();
    repo.expect_session()
        .withf(move |id| *id == missing)
        .returning(|_| Ok(None));
    repo.expect_session()
        .withf(move |id| *id == orphan)
        .returning(|_| Ok(Some(session())));
    repo.expect_topic().returning(|_| Ok(None));
    let svc = service(repo);
    assert!(matches!(
        svc.transcript(missing).await,
        Err(DebateError::NotFound(w)) if w == "session"
    ));
    assert!(matches!(
        svc.transcript(orphan).await,
        Err(DebateError::NotFound(w)) if w == "topic"
    ));
}
