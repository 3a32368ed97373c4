//! Buildkite build ids: `{organization}/{pipeline}/{number}`.

use buildrunner_api::{BuildId, Result};

use crate::BuildkiteConfig;

/// The expected shape, quoted in every rejection.
const FORMAT: &str = "expected {organization}/{pipeline}/{number}, e.g. acme/monorepo/42";

/// Mints the id of build `number` in the configured pipeline.
pub(crate) fn format_id(config: &BuildkiteConfig, number: u64) -> BuildId {
    BuildId::new(format!(
        "{}/{}/{number}",
        config.organization, config.pipeline
    ))
}

/// Parses an id strictly and returns its build number.
///
/// An id of another organization or pipeline is rejected: sending its number to this
/// runner's pipeline would query an unrelated build.
pub(crate) fn parse_id(config: &BuildkiteConfig, id: &BuildId) -> Result<u64> {
    let mut parts = id.as_str().split('/');
    let (Some(organization), Some(pipeline), Some(number), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(id.invalid(FORMAT));
    };
    let canonical_number = !number.is_empty()
        && number.len() <= 20
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.starts_with('0');
    let number = match canonical_number.then(|| number.parse::<u64>()) {
        Some(Ok(number)) => number,
        _ => {
            return Err(id.invalid(format!(
                "{FORMAT}; the build number must be a positive decimal without leading zeros"
            )));
        }
    };
    if organization != config.organization || pipeline != config.pipeline {
        return Err(id.invalid(format!(
            "the build belongs to {organization}/{pipeline}, but this queue runs {}/{}",
            config.organization, config.pipeline
        )));
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_api::Error;

    #[test]
    fn ids_round_trip_and_foreign_or_malformed_ids_are_rejected() {
        let config = BuildkiteConfig::new("acme", "monorepo").unwrap();
        for number in [
            1,
            42,
            u64::from(u32::MAX) + 1,
            999_999_999_999_999_999,
            u64::MAX,
        ] {
            assert_eq!(
                parse_id(&config, &format_id(&config, number)).unwrap(),
                number
            );
        }
        for bad in [
            "",
            "42",
            "acme/monorepo",
            "acme/monorepo/",
            "acme/monorepo/042",
            "acme/monorepo/0",
            "acme/monorepo/-1",
            "acme/monorepo/+1",
            "acme/monorepo/4 2",
            "acme/monorepo/1e3",
            "acme/monorepo/42/",
            "acme/monorepo/42/jobs",
            "acme/monorepo/99999999999999999999",
            "acme/monorepo/18446744073709551616",
            "acme/monorepo/100000000000000000000",
            "other/monorepo/42",
            "acme/other/42",
            "ACME/monorepo/42",
        ] {
            let error = parse_id(&config, &BuildId::from(bad)).unwrap_err();
            assert!(
                matches!(error, Error::InvalidBuildId { .. }),
                "{bad:?}: {error:?}"
            );
        }
        let error = parse_id(&config, &BuildId::from("other/monorepo/42")).unwrap_err();
        assert!(
            error.to_string().contains("this queue runs acme/monorepo"),
            "{error}"
        );
    }
}
