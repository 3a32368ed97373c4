//! Build ids of the form `{prefix}/{number}`: Buildkite's `org/pipeline/42`, GitHub's
//! `owner/repo/30433642`, GitLab's `group/project/7`. The prefix names the project the
//! runner is configured for; an id of another project is refused before any request, since
//! its number would name an unrelated build here.

use buildrunner_api::{BuildId, Result};

/// The ids of one configured project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedIds {
    prefix: String,
    example: &'static str,
    case_insensitive: bool,
}

impl NumberedIds {
    /// Ids `{prefix}/{number}`; `example` is quoted in rejections (`"acme/monorepo/42"`).
    pub fn new(prefix: impl Into<String>, example: &'static str) -> Self {
        NumberedIds {
            prefix: prefix.into(),
            example,
            case_insensitive: false,
        }
    }

    /// Compares the prefix without regard to ASCII case (GitHub's names).
    pub fn case_insensitive(mut self) -> Self {
        self.case_insensitive = true;
        self
    }

    /// The id of build `number`.
    pub fn format(&self, number: u64) -> BuildId {
        BuildId::new(format!("{}/{number}", self.prefix))
    }

    /// The number an id names, checked strictly: a positive decimal without leading zeros,
    /// after exactly this project's prefix.
    ///
    /// ```
    /// use buildrunner_api::BuildId;
    /// use buildrunner_http::NumberedIds;
    ///
    /// let ids = NumberedIds::new("acme/app", "acme/app/42");
    /// assert_eq!(ids.parse(&BuildId::new("acme/app/42"))?, 42);
    /// assert!(ids.parse(&BuildId::new("acme/other/42")).is_err());
    /// assert!(ids.parse(&BuildId::new("acme/app/042")).is_err());
    /// # Ok::<(), buildrunner_api::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`buildrunner_api::Error::InvalidBuildId`] saying what is wrong.
    pub fn parse(&self, id: &BuildId) -> Result<u64> {
        let format = || format!("expected {}/{{number}}, e.g. {}", self.prefix, self.example);
        let Some((prefix, number)) = id.as_str().rsplit_once('/') else {
            return Err(id.invalid(format()));
        };
        let canonical = !number.is_empty()
            && number.len() <= 20
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0');
        let number = match canonical.then(|| number.parse::<u64>()) {
            Some(Ok(number)) => number,
            _ => {
                return Err(id.invalid(format!(
                    "{}; the number must be a positive decimal without leading zeros",
                    format()
                )));
            }
        };
        let same = if self.case_insensitive {
            prefix.eq_ignore_ascii_case(&self.prefix)
        } else {
            prefix == self.prefix
        };
        if !same {
            return Err(id.invalid(format!(
                "the build belongs to {prefix:?}, but this queue runs {}",
                self.prefix
            )));
        }
        Ok(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_api::Error;

    #[test]
    fn ids_round_trip_and_foreign_or_malformed_ids_are_refused() {
        let ids = NumberedIds::new("acme/app", "acme/app/42");
        for number in [1, 42, u64::MAX] {
            assert_eq!(ids.parse(&ids.format(number)).unwrap(), number);
        }
        for bad in [
            "",
            "7",
            "acme/app",
            "acme/app/",
            "acme/app/0",
            "acme/app/07",
            "acme/app/x",
            "acme/app/7/8",
            "acme/app/-7",
            "acme/app/+7",
            "acme/app/ 7",
            "acme/other/7",
            "ACME/app/7",
            "acme/app/99999999999999999999",
            "x/acme/app/7",
        ] {
            assert!(
                matches!(
                    ids.parse(&BuildId::new(bad)),
                    Err(Error::InvalidBuildId { .. })
                ),
                "{bad:?}"
            );
        }
        let github = NumberedIds::new("acme/app", "acme/app/1").case_insensitive();
        assert_eq!(github.parse(&BuildId::new("ACME/App/7")).unwrap(), 7);
        let nested = NumberedIds::new("group/sub/project", "group/sub/project/7");
        assert_eq!(
            nested.parse(&BuildId::new("group/sub/project/7")).unwrap(),
            7
        );
        assert!(nested.parse(&BuildId::new("sub/project/7")).is_err());
    }
}
