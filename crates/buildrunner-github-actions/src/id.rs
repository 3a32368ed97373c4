//! GitHub Actions build ids: `{owner}/{repo}/{run_id}`.

use buildrunner_api::{BuildId, Result};

use crate::GitHubActionsConfig;

/// The expected shape, quoted in every rejection.
const FORMAT: &str = "expected {owner}/{repo}/{run_id}, e.g. acme/app/30433642";

/// Mints the id of run `run_id` in the configured repository.
pub(crate) fn format_id(config: &GitHubActionsConfig, run_id: u64) -> BuildId {
    BuildId::new(format!("{}/{}/{run_id}", config.owner, config.repo))
}

/// Parses an id strictly and returns its run id. An id of another repository is rejected:
/// its run id would name an unrelated run here.
pub(crate) fn parse_id(config: &GitHubActionsConfig, id: &BuildId) -> Result<u64> {
    let mut parts = id.as_str().split('/');
    let (Some(owner), Some(repo), Some(run), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(id.invalid(FORMAT));
    };
    let canonical = !run.is_empty()
        && run.len() <= 20
        && run.bytes().all(|b| b.is_ascii_digit())
        && !run.starts_with('0');
    let run_id = match canonical.then(|| run.parse::<u64>()) {
        Some(Ok(run_id)) => run_id,
        _ => {
            return Err(id.invalid(format!(
                "{FORMAT}; the run id must be a positive decimal without leading zeros"
            )));
        }
    };
    // GitHub owner and repository names are case-insensitive.
    if !owner.eq_ignore_ascii_case(&config.owner) || !repo.eq_ignore_ascii_case(&config.repo) {
        return Err(id.invalid(format!(
            "the run belongs to {owner}/{repo}, but this queue runs {}/{}",
            config.owner, config.repo
        )));
    }
    Ok(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_api::Error;

    #[test]
    fn ids_round_trip_and_foreign_or_malformed_ids_are_rejected() {
        let config = GitHubActionsConfig::new("acme", "app", "ci.yml").unwrap();
        for run_id in [1, 30_433_642, u64::MAX] {
            assert_eq!(
                parse_id(&config, &format_id(&config, run_id)).unwrap(),
                run_id
            );
        }
        assert_eq!(parse_id(&config, &BuildId::new("ACME/App/7")).unwrap(), 7);
        for bad in [
            "",
            "7",
            "acme/app",
            "acme/app/0",
            "acme/app/07",
            "acme/app/x",
            "acme/app/7/8",
            "acme/app/-7",
            "acme/app/ 7",
            "acme/other/7",
            "other/app/7",
            "acme/app/99999999999999999999",
        ] {
            assert!(
                matches!(
                    parse_id(&config, &BuildId::new(bad)),
                    Err(Error::InvalidBuildId { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
