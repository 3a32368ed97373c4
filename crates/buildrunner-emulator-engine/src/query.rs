//! Query strings with repeated keys kept in order.

/// A parsed query string.
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// Every pair, in order.
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(query: Option<&str>) -> Query {
        Query {
            pairs: query
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is `true`.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true")
    }

    /// A page of `items` by `page` and `per_page` (at most 100, default 30), and the
    /// `Link` header for it, GitHub's and Buildkite's way.
    pub fn paginate<T>(
        &self,
        items: Vec<T>,
        base_url: &str,
        path: &str,
    ) -> (Vec<T>, Option<String>) {
        let per_page = self
            .get("per_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = self
            .get("page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let pages = items.len().div_ceil(per_page).max(1);
        let link = |target: usize, rel: &str| {
            let mut pairs: Vec<(String, String)> = self
                .pairs
                .iter()
                .filter(|(k, _)| k != "page" && k != "per_page")
                .cloned()
                .collect();
            pairs.push(("page".to_owned(), target.to_string()));
            pairs.push(("per_page".to_owned(), per_page.to_string()));
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            format!("<{base_url}{path}?{encoded}>; rel=\"{rel}\"")
        };
        let mut links = Vec::new();
        if page < pages {
            links.push(link(page + 1, "next"));
            links.push(link(pages, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
            links.push(link(page - 1, "prev"));
        }
        let items = items
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect();
        (items, (!links.is_empty()).then(|| links.join(", ")))
    }
}
