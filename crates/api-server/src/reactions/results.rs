//! Results, told to everyone who took part when voting ends: closing a session schedules a
//! `debates.publish_results` job at the end of its voting window.

use std::sync::Arc;

use async_trait::async_trait;
use domain_core::{Clock, DomainEvent};
use domain_debates::{DebateError, DebateEvent, DebateService, Results, Side, VotingService};
use domain_jobs::{Job, JobError, JobHandler, JobQueue, NewJob};
use domain_notifications::NotificationKind;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EventSubscriber, KnownEvent, Notifier, quoted, took_part_in};

/// Kind of the job that tells a closed session's participants its results.
pub const PUBLISH_RESULTS: &str = "debates.publish_results";

/// On `debates.session_closed`, enqueues `debates.publish_results` for when voting ends.
pub struct ResultsScheduler {
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
}

impl ResultsScheduler {
    /// Enqueues on `queue`.
    pub fn new(queue: Arc<dyn JobQueue>, clock: Arc<dyn Clock>) -> Self {
        Self { queue, clock }
    }
}

/// The payload of a `debates.publish_results` job.
#[derive(Serialize, Deserialize)]
struct Due {
    session_id: Uuid,
}

#[async_trait]
impl EventSubscriber for ResultsScheduler {
    fn wants(&self, event: &KnownEvent) -> bool {
        matches!(
            event,
            KnownEvent::Debates(DebateEvent::SessionClosed { .. })
        )
    }

    async fn handle(&self, _: &DomainEvent, event: &KnownEvent) -> Result<(), String> {
        let KnownEvent::Debates(DebateEvent::SessionClosed {
            session_id,
            voting_closes_at,
            ..
        }) = event
        else {
            return Ok(());
        };
        // One per session, however often the close event is dispatched.
        let due = serde_json::to_value(Due {
            session_id: *session_id,
        })
        .map_err(|e| e.to_string())?;
        let job = NewJob::new(PUBLISH_RESULTS, due)
            .run_at(*voting_closes_at)
            .dedupe_key(format!("results:{session_id}"));
        self.queue
            .enqueue(job, self.clock.now())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Runs `debates.publish_results`.
pub struct PublishResults {
    notifier: Notifier,
    debates: DebateService,
    voting: VotingService,
}

impl PublishResults {
    /// Reads results from `voting`, participants from `debates`, tells through
    /// `notifier`.
    pub fn new(notifier: Notifier, debates: DebateService, voting: VotingService) -> Self {
        Self {
            notifier,
            debates,
            voting,
        }
    }
}

fn side(side: Side) -> &'static str {
    match side {
        Side::Pro => "pro",
        Side::Con => "con",
        Side::Audience => "audience",
    }
}

/// The body of the results notification.
pub(crate) fn results_text(r: &Results) -> String {
    let t = &r.tally;
    let mut lines = vec![match r.winner {
        Some(winner) => {
            let (won, lost) = match winner {
                Side::Pro => (t.pro, t.con),
                _ => (t.con, t.pro),
            };
            format!(
                "The {} side won, {won} {} to {lost}.",
                side(winner),
                if won == 1 { "vote" } else { "votes" }
            )
        }
        None if t.pro + t.con == 0 => "Nobody voted for a side.".to_owned(),
        None => format!("A tie: {} votes each.", t.pro),
    }];
    if let Some(seq) = r.best_argument {
        let votes = t
            .arguments
            .iter()
            .find(|a| a.seq == seq)
            .map_or(0, |a| a.votes);
        let noun = if votes == 1 { "vote" } else { "votes" };
        lines.push(format!("Best argument: #{seq} ({votes} {noun})."));
    }
    lines.push(format!(
        "{} of {} participants voted.",
        t.turnout, t.eligible
    ));
    lines.join("\n")
}

#[async_trait]
impl JobHandler for PublishResults {
    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        let due: Due = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("payload: {e}")))?;
        let (session, results) = match (
            self.debates.session(due.session_id).await,
            self.voting.results(due.session_id).await,
        ) {
            (Ok(session), Ok(results)) => (session, results),
            // Deleted since: nobody to tell.
            (Err(DebateError::NotFound(_)), _) | (_, Err(DebateError::NotFound(_))) => {
                return Ok(());
            }
            (Err(e), _) | (_, Err(e)) => return Err(JobError::Retry(e.to_string())),
        };
        if results.open {
            // Ran early (clocks of two machines disagree): the backoff brings it back.
            return Err(JobError::Retry("voting is still open".into()));
        }
        let title = format!("Results of “{}”", quoted(&session.title));
        let body = results_text(&results);
        let link = format!("/api/debates/sessions/{}/results/", session.id);
        let key = format!("results:{}", session.id);
        // the results are final when voting ends, whenever this job got to run
        let at = results.voting_closes_at.unwrap_or(job.run_at);
        // everyone who took part — as the tally's `eligible` counts them — not only the
        // seats still taken at the close
        let users = took_part_in(&self.debates, session.id)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        for user in users {
            self.notifier
                .tell(
                    user,
                    NotificationKind::ResultsPublished,
                    &title,
                    &body,
                    Some(&link),
                    &key,
                    at,
                )
                .await
                .map_err(JobError::Retry)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use domain_debates::{ArgumentVotes, Tally};

    use super::*;

    fn results(pro: u64, con: u64, best: Option<(i64, u64)>) -> Results {
        Results {
            session_id: Uuid::nil(),
            tally: Tally {
                pro,
                con,
                arguments: best
                    .map(|(seq, votes)| vec![ArgumentVotes { seq, votes }])
                    .unwrap_or_default(),
                turnout: pro + con,
                eligible: 10,
            },
            winner: match pro.cmp(&con) {
                std::cmp::Ordering::Greater => Some(Side::Pro),
                std::cmp::Ordering::Less => Some(Side::Con),
                std::cmp::Ordering::Equal => None,
            },
            best_argument: best.map(|(seq, _)| seq),
            voting_opens_at: None,
            voting_closes_at: None,
            open: false,
        }
    }

    #[test]
    fn the_text_names_the_winner_the_best_argument_and_the_turnout() {
        assert_eq!(
            results_text(&results(2, 5, Some((7, 4)))),
            "The con side won, 5 votes to 2.\nBest argument: #7 (4 votes).\n7 of 10 participants voted."
        );
        assert_eq!(
            results_text(&results(3, 3, None)),
            "A tie: 3 votes each.\n6 of 10 participants voted."
        );
        assert_eq!(
            results_text(&results(0, 0, None)),
            "Nobody voted for a side.\n0 of 10 participants voted."
        );
    }
}
