//! Voting on a closed session (`…/sessions/{id}/votes/`, `…/results/`) and the live
//! `vote.tally` frames of its room, coalesced so a burst of votes makes one frame.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use domain_debates::{Ballot, Side, Vote};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ResultsDto, session_in_scope, session_to_take_part};
use crate::http::endpoint::Endpoint;
use crate::http::guard::Authorize;
use crate::http::problem::ApiError;
use crate::http::state::DebatesState;

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
    state: web::Data<DebatesState>,
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
    let status = if cast.replaced {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(vote_dto(cast.vote, cast.replaced)))
}

async fn results(
    state: web::Data<DebatesState>,
    auth: Authorize,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (session, _) = session_in_scope(&state, &auth, id.into_inner()).await?;
    let results = state.voting.results(session.id).await?;
    Ok(HttpResponse::Ok().json(ResultsDto::from(results)))
}
