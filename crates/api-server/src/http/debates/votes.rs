//! Voting on a closed session (`…/sessions/{id}/votes/`, `…/results/`) and the live
//! `vote.tally` frames of its room, coalesced so a burst of votes makes one frame.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain_debates::{Ballot, Results, Side, Vote};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{session_in_scope, session_to_take_part};
use crate::http::guard::Authorize;
use crate::http::problem::ApiError;
use crate::http::routes::Endpoint;
use crate::http::state::AppState;

/// How long after a vote its room's `vote.tally` frame goes out; votes meanwhile are in
/// the same frame.
pub const TALLY_COALESCE: Duration = Duration::from_millis(500);

pub(super) fn endpoints() -> Vec<Endpoint> {
    let tag = "debates";
    vec![
        Endpoint::post("/api/debates/sessions/{id}/votes/", "castVote")
            .summary(
                tag,
                "Vote for the winning side or the best argument while the voting window is open (participants and audience; a new vote replaces the previous one)",
            )
            .permission("debate_session.read")
            .body::<VoteRequest>()
            .returns::<VoteDto>(201, "Counted (200 when it replaced your earlier vote)")
            .also_returns(&[(200, "Replaced your earlier vote on this ballot")])
            .errors(&[409, 422])
            .to(cast),
        Endpoint::get("/api/debates/sessions/{id}/results/", "getResults")
            .summary(tag, "Tallies per side and per argument, winner, turnout")
            .permission("debate_session.read")
            .returns::<ResultsDto>(200, "The results so far (final once the window closed)")
            .to(results),
    ]
}

/// A vote.
#[derive(Deserialize)]
pub struct VoteRequest {
    /// `winner` or `best_argument`.
    #[serde(default)]
    pub ballot: String,
    /// `pro` or `con`, on the `winner` ballot.
    pub side: Option<String>,
    /// A message's sequence number, on the `best_argument` ballot (not your own).
    pub seq: Option<i64>,
}

impl JsonSchema for VoteRequest {
    fn schema_name() -> String {
        "VoteRequest".into()
    }

    /// One of two ballots, each with its own choice: a derived schema could only say
    /// "`side` and `seq` both optional", and half of what it allows is refused.
    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        let schema = serde_json::json!({
            "description": "A vote: the winning side on the `winner` ballot, or an argument \
                (not your own) on the `best_argument` ballot.",
            "type": "object",
            "properties": {
                "ballot": {"type": "string", "enum": ["winner", "best_argument"]},
                "side": {"description": "`pro` or `con`, on the `winner` ballot.", "type": "string", "enum": ["pro", "con"]},
                "seq": {"description": "A message's sequence number, on the `best_argument` ballot.", "type": "integer", "format": "int64", "minimum": 1}
            },
            "oneOf": [
                {"type": "object", "properties": {"ballot": {"enum": ["winner"]}}, "required": ["ballot", "side"]},
                {"type": "object", "properties": {"ballot": {"enum": ["best_argument"]}}, "required": ["ballot", "seq"]}
            ]
        });
        serde_json::from_value(schema).unwrap_or(schemars::schema::Schema::Bool(true))
    }
}

/// A vote as counted.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct VoteDto {
    /// `winner` or `best_argument`.
    #[schemars(schema_with = "crate::http::schema::ballot")]
    pub ballot: String,
    /// The side voted for (`winner`).
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::debating_side_or_null")]
    pub side: Option<String>,
    /// The argument voted for (`best_argument`).
    pub seq: Option<i64>,
    /// When.
    pub cast_at: DateTime<Utc>,
    /// Whether it replaced an earlier vote of yours on this ballot.
    pub replaced: bool,
}

/// Votes for one argument.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ArgumentVotesDto {
    /// The argument.
    pub seq: i64,
    /// Votes.
    pub votes: u64,
}

/// The results of a session's vote.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ResultsDto {
    /// The session.
    pub session_id: Uuid,
    /// Votes for pro on the winner ballot.
    pub pro: u64,
    /// Votes for con.
    pub con: u64,
    /// Votes per argument, most first.
    pub arguments: Vec<ArgumentVotesDto>,
    /// `pro` or `con`; absent on a tie or without votes.
    #[serde(default)]
    #[schemars(schema_with = "crate::http::schema::debating_side_or_null")]
    pub winner: Option<String>,
    /// The best argument; absent on a tie or without votes.
    pub best_argument: Option<i64>,
    /// Distinct voters.
    pub turnout: u64,
    /// Distinct users who took a seat (any side) in the session.
    pub eligible: u64,
    /// When voting opened (the session closed).
    pub voting_opens_at: Option<DateTime<Utc>>,
    /// When it closes.
    pub voting_closes_at: Option<DateTime<Utc>>,
    /// Whether votes are accepted now.
    pub open: bool,
}

impl From<Results> for ResultsDto {
    fn from(r: Results) -> Self {
        Self {
            session_id: r.session_id,
            pro: r.tally.pro,
            con: r.tally.con,
            arguments: r
                .tally
                .arguments
                .into_iter()
                .map(|a| ArgumentVotesDto {
                    seq: a.seq,
                    votes: a.votes,
                })
                .collect(),
            winner: r.winner.map(|s| s.as_str().to_owned()),
            best_argument: r.best_argument,
            turnout: r.tally.turnout,
            eligible: r.tally.eligible,
            voting_opens_at: r.voting_opens_at,
            voting_closes_at: r.voting_closes_at,
            open: r.open,
        }
    }
}

fn vote_dto(v: Vote, replaced: bool) -> VoteDto {
    VoteDto {
        ballot: v.ballot.as_str().to_owned(),
        side: v.side.map(|s| s.as_str().to_owned()),
        seq: v.seq,
        cast_at: v.cast_at,
        replaced,
    }
}

async fn cast(
    state: web::Data<AppState>,
    auth: Authorize,
    id: web::Path<Uuid>,
    body: web::Json<VoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let invalid = |field: &str, message: &str| {
        ApiError::Validation(vec![domain_core::FieldError::new(field, message)])
    };
    let ballot = Ballot::parse(&body.ballot)
        .ok_or_else(|| invalid("ballot", "must be winner or best_argument"))?;
    // Which sides may win is the domain's rule (the audience is refused there).
    let side = body
        .side
        .as_deref()
        .map(|s| Side::parse(s).ok_or_else(|| invalid("side", "must be pro or con")))
        .transpose()?;
    let choice = ballot.choice(side, body.seq)?;
    let (session, _) = session_to_take_part(&state, &auth, id.into_inner()).await?;
    let voter = auth
        .user_id()
        .ok_or_else(|| ApiError::Unauthorized("sign in to vote".into()))?;
    let cast = state.voting.cast(voter, session.id, choice).await?;
    announce_tally(&state, session.id);
    let status = if cast.replaced {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(vote_dto(cast.vote, cast.replaced)))
}

async fn results(
    state: web::Data<AppState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let results = state.voting.results(session.id).await?;
    Ok(HttpResponse::Ok().json(ResultsDto::from(results)))
}

/// Schedules the room's `vote.tally` frame (coalesced per room and instance).
fn announce_tally(state: &AppState, session_id: Uuid) {
    let voting = state.voting.clone();
    state.rooms.publish_coalesced(
        session_id,
        "vote.tally",
        TALLY_COALESCE,
        move || async move {
            match voting.results(session_id).await {
                Ok(r) => {
                    Some(json!({"type": "vote.tally", "results": ResultsDto::from(r)}).to_string())
                }
                Err(e) => {
                    tracing::warn!(%session_id, error = %e, "cannot read a session's tally");
                    None
                }
            }
        },
    );
}
