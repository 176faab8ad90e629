//! Transcripts: a session with its topic and every message, as data (JSON) or rendered
//! for reading (Markdown, plain text).
//!
//! Rendering is deterministic — same transcript and names, same bytes — so exports can be
//! compared and cached. Authors are shown by the name the caller resolves (this crate
//! knows only user ids). User text (titles, description, names, bodies) is never trusted
//! to shape the document: Markdown escapes its metacharacters, and plain text indents the
//! continuation lines of a message so a body cannot forge another message's line.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::{DebateError, DebateService, DebateSession, Message, MessageRange, Side, Topic};

/// How many messages [`DebateService::transcript`] reads per store call.
const PAGE: u32 = 500;

/// What a removed message shows instead of its text, unless the reader may see it.
pub const REMOVED_TEXT: &str = "[removed by a moderator]";

/// The forms a transcript is offered in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TranscriptFormat {
    /// The [`Transcript`] serialised as JSON.
    #[default]
    Json,
    /// Markdown, see [`Transcript::render_markdown`].
    Markdown,
    /// Plain text, see [`Transcript::render_text`].
    Text,
}

impl TranscriptFormat {
    /// Parses `json`, `markdown` or `md`, `text` or `txt` (ASCII case ignored).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "markdown" | "md" => Some(Self::Markdown),
            "text" | "txt" => Some(Self::Text),
            _ => None,
        }
    }

    /// Canonical text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "markdown",
            Self::Text => "text",
        }
    }

    /// Media type of the rendered document.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    /// File name extension for a download, without the dot.
    pub fn file_extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "md",
            Self::Text => "txt",
        }
    }
}

/// A session, its topic and all its messages in sequence order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transcript {
    /// The session.
    pub session: DebateSession,
    /// Its topic.
    pub topic: Topic,
    /// Every message, ascending by `seq`.
    pub messages: Vec<Message>,
}

impl DebateService {
    /// The session's transcript, reading its messages page by page.
    ///
    /// # Errors
    /// [`DebateError::NotFound`] (`"session"`, or `"topic"` if the session's topic is
    /// gone); [`DebateError::Store`].
    pub async fn transcript(&self, session_id: Uuid) -> Result<Transcript, DebateError> {
        let session = self.session(session_id).await?;
        let topic = self.topic(session.topic_id).await?;
        let mut messages: Vec<Message> = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .messages(
                    session_id,
                    MessageRange {
                        after,
                        before: None,
                    },
                    PAGE,
                )
                .await?;
            let full = page.len() >= PAGE as usize;
            let last = page.last().map(|m| m.seq);
            messages.extend(page);
            match last {
                // Also stop if the store's cursor did not move: a misbehaving adapter
                // must not turn an export into an endless loop.
                Some(seq) if full && after.is_none_or(|a| seq > a) => after = Some(seq),
                _ => break,
            }
        }
        Ok(Transcript {
            session,
            topic,
            messages,
        })
    }
}

impl Transcript {
    /// The transcript with the text of removed messages replaced by [`REMOVED_TEXT`]
    /// (the removal itself stays), for readers who may not see it — what the JSON form
    /// should carry for them.
    pub fn without_removed_text(mut self) -> Self {
        for m in &mut self.messages {
            if m.removed.is_some() {
                REMOVED_TEXT.clone_into(&mut m.body);
            }
        }
        self
    }

    /// The transcript in `format` (JSON: the [`Transcript`] serialised). Removed
    /// messages show as removed; with `reveal_removed` (moderators) their original text
    /// follows the mark, otherwise it is not in the document at all.
    pub fn render(
        &self,
        format: TranscriptFormat,
        names: &dyn Fn(Uuid) -> String,
        reveal_removed: bool,
    ) -> String {
        match format {
            TranscriptFormat::Json => {
                let json = if reveal_removed {
                    serde_json::to_string(self)
                } else {
                    serde_json::to_string(&self.clone().without_removed_text())
                };
                // Serialising plain data cannot fail; an empty body would show it did.
                json.unwrap_or_default()
            }
            TranscriptFormat::Markdown => self.markdown(names, reveal_removed),
            TranscriptFormat::Text => self.text(names, reveal_removed),
        }
    }

    /// [`render`](Self::render) as Markdown, removed text hidden.
    pub fn render_markdown(&self, names: &dyn Fn(Uuid) -> String) -> String {
        self.markdown(names, false)
    }

    /// [`render`](Self::render) as plain text, removed text hidden.
    pub fn render_text(&self, names: &dyn Fn(Uuid) -> String) -> String {
        self.text(names, false)
    }

    /// The transcript as Markdown: a heading with the session title, a list of facts
    /// (topic, status, times, message count), the topic description as a quote, then one
    /// paragraph per message, `**#seq [PRO] author** (time) ↪ #n: body`. Every piece of
    /// user text is escaped, so it reads as typed and cannot add headings, links, images,
    /// HTML, lists or code. `names` maps an author id to the name to show. A removed
    /// message's body is `_[removed by a moderator]_`, followed by the original text
    /// only when `reveal_removed`.
    fn markdown(&self, names: &dyn Fn(Uuid) -> String, reveal_removed: bool) -> String {
        let mut out = format!("# Transcript: {}\n\n", md_line(&self.session.title));
        for (label, value) in self.facts() {
            let value = if label == "Topic" {
                md_line(&value)
            } else {
                value
            };
            out.push_str(&format!("- **{label}:** {value}\n"));
        }
        if !self.topic.description.trim().is_empty() {
            out.push('\n');
            for line in md_lines(&self.topic.description) {
                if line.is_empty() {
                    out.push_str(">\n");
                } else {
                    out.push_str(&format!("> {line}\n"));
                }
            }
        }
        out.push_str("\n## Messages\n");
        if self.messages.is_empty() {
            out.push_str("\n_No messages._\n");
        }
        for m in &self.messages {
            let body = match (&m.removed, reveal_removed) {
                (None, _) => md_lines(&m.body).join("\n"),
                (Some(_), false) => format!("_{}_", md_line(REMOVED_TEXT)),
                (Some(_), true) => format!(
                    "_{}_ {}",
                    md_line(REMOVED_TEXT),
                    md_lines(&m.body).join("\n")
                ),
            };
            out.push_str(&format!(
                "\n**#{} [{}] {}** ({}){}: {}\n",
                m.seq,
                side_label(m.side),
                md_line(&name_of(names, m.author_id)),
                time(m.created_at),
                reply_marker(m.reply_to),
                body,
            ));
        }
        out
    }

    /// The transcript as plain text: the session title, one `Label: value` line per fact,
    /// the topic description indented by two spaces, then one line per message,
    /// `#seq [PRO] author (time) ↪ #n: body`, further lines of a body indented by four
    /// spaces. Control characters in user text are shown as `�`. `names` maps an author
    /// id to the name to show. A removed message's body is `[removed by a moderator]`,
    /// followed by the original text only when `reveal_removed`.
    fn text(&self, names: &dyn Fn(Uuid) -> String, reveal_removed: bool) -> String {
        let mut out = format!("Transcript: {}\n", one_line(&self.session.title));
        for (label, value) in self.facts() {
            let value = if label == "Topic" {
                one_line(&value)
            } else {
                value
            };
            out.push_str(&format!("{label}: {value}\n"));
        }
        if !self.topic.description.trim().is_empty() {
            out.push('\n');
            for line in self.topic.description.trim().split('\n') {
                out.push_str(&indented(line, "  "));
            }
        }
        out.push('\n');
        if self.messages.is_empty() {
            out.push_str("(no messages)\n");
        }
        for m in &self.messages {
            let hidden = m.removed.is_some() && !reveal_removed;
            let mut lines = if hidden { "" } else { m.body.trim() }.split('\n');
            let first = one_line(lines.next().unwrap_or_default());
            let first = match (&m.removed, hidden) {
                (None, _) => first,
                (Some(_), true) => REMOVED_TEXT.to_owned(),
                (Some(_), false) => format!("{REMOVED_TEXT} {first}"),
            };
            out.push_str(&format!(
                "#{} [{}] {} ({}){}: {}\n",
                m.seq,
                side_label(m.side),
                one_line(&name_of(names, m.author_id)),
                time(m.created_at),
                reply_marker(m.reply_to),
                first,
            ));
            // Indented, so a line of the body never starts with `#`: it cannot pass for
            // a message of its own.
            for line in lines {
                out.push_str(&indented(line, "    "));
            }
        }
        out
    }

    /// The header facts, in display order; only the topic title is user text.
    fn facts(&self) -> Vec<(&'static str, String)> {
        let s = &self.session;
        let mut facts = vec![
            ("Topic", self.topic.title.clone()),
            ("Status", s.status.as_str().to_owned()),
            (
                "Scheduled",
                match s.scheduled_end {
                    Some(end) => format!("{} to {}", time(s.scheduled_start), time(end)),
                    None => time(s.scheduled_start),
                },
            ),
        ];
        if let Some(at) = s.started_at {
            facts.push(("Started", time(at)));
        }
        if let Some(at) = s.closed_at {
            facts.push(("Closed", time(at)));
        }
        facts.push(("Messages", self.messages.len().to_string()));
        facts
    }
}

/// Seconds are enough for reading; UTC spelled out so no reader guesses a zone.
fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn side_label(side: Side) -> &'static str {
    match side {
        Side::Pro => "PRO",
        Side::Con => "CON",
        Side::Audience => "AUDIENCE",
    }
}

fn reply_marker(reply_to: Option<i64>) -> String {
    reply_to.map(|n| format!(" ↪ #{n}")).unwrap_or_default()
}

/// The author's name, or the id when the resolver has nothing to show: an empty name
/// would leave an unreadable line (and in Markdown, an unclosed bold).
fn name_of(names: &dyn Fn(Uuid) -> String, id: Uuid) -> String {
    let name = names(id);
    if name.trim().is_empty() {
        id.to_string()
    } else {
        name
    }
}

/// `text` on one line: control characters (line breaks included) become `�`, so stored
/// text, whatever it holds, cannot break the layout or drive a terminal.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// One line of plain text under `indent`, without trailing white space on empty lines.
fn indented(line: &str, indent: &str) -> String {
    let line = one_line(line.trim_end());
    if line.is_empty() {
        "\n".to_owned()
    } else {
        format!("{indent}{line}\n")
    }
}

/// Multi-line user text as Markdown lines: each escaped by [`md_line`], a hard break
/// (`\` at the end) between two non-empty lines so the author's line breaks survive, and
/// empty lines kept as paragraph breaks.
fn md_lines(text: &str) -> Vec<String> {
    let lines: Vec<String> = text.trim().split('\n').map(md_line).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let next_has_text = lines.get(i + 1).is_some_and(|l| !l.is_empty());
        if !line.is_empty() && next_has_text {
            out.push(format!("{line}\\"));
        } else {
            out.push(line.clone());
        }
    }
    out
}

/// One line of user text as inert Markdown. Surrounding white space is dropped (an
/// indented line would become a code block, and renderers drop it anyway); control
/// characters become `�`. Backslash-escaped:
/// - everywhere: `\` `` ` `` `*` `_` `[` `]` `<` `>` `#` `|` `~` `&` `$` — emphasis, code,
///   links and images, HTML and autolinks, headings, quotes, tables, strikethrough and
///   fences, entity references, maths;
/// - at the start of the line: `-` `+` `=` (list items, setext heading underlines,
///   thematic breaks), and the `.` or `)` after leading digits (ordered lists).
///
/// Bare URLs may still be auto-linked by GitHub-flavoured renderers; they show their
/// own address, so nothing is hidden behind link text.
fn md_line(line: &str) -> String {
    let line = line.trim();
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let mut out = String::with_capacity(line.len() + 8);
    for (i, c) in line.chars().enumerate() {
        if c.is_control() {
            out.push('\u{FFFD}');
            continue;
        }
        let escape = matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '&' | '$'
        ) || (i == 0 && matches!(c, '-' | '+' | '='))
            || (digits > 0 && i == digits && matches!(c, '.' | ')'));
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
