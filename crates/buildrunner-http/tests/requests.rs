//! What the shared client puts on the wire for the request shapes backends build from it:
//! form bodies, Basic auth, statuses that answer a create, and HTML where JSON was expected.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::time::Duration;

use buildrunner_api::Error;
use buildrunner_http::rate::{BudgetKey, PROXY_LIMITS_ONLY};
use buildrunner_http::{
    Auth, ClientSpec, HttpClient, HttpOptions, Method, Operation, Reply, Request, StatusCode,
    Token, Url,
};
use httpmock::prelude::*;

fn client(server: &MockServer, auth: Auth) -> HttpClient {
    let options = HttpOptions {
        max_retries: 1,
        initial_backoff: Duration::from_millis(1),
        ..HttpOptions::default()
    };
    HttpClient::new(ClientSpec {
        backend: "test",
        service: "Test CI",
        options,
        auth,
        default_headers: Vec::new(),
        scheme: Arc::new(PROXY_LIMITS_ONLY),
        budget_key: BudgetKey {
            api_url: server.base_url(),
            account: "requests-test".to_owned(),
            token_fingerprint: 1,
        },
        budget_store: None,
    })
    .unwrap()
}

fn url(server: &MockServer, path: &str) -> Url {
    Url::parse(&server.url(path)).unwrap()
}

#[tokio::test]
async fn a_form_body_goes_with_its_content_type_and_basic_auth() {
    let server = MockServer::start_async().await;
    // base64("alice:s3cret") = YWxpY2U6czNjcmV0
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/form")
                .header("authorization", "Basic YWxpY2U6czNjcmV0")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("a=1&b=two+words");
            then.status(201).header("location", "/made/7/");
        })
        .await;
    let token = Token::new("s3cret").unwrap();
    let http = client(&server, Auth::basic("alice", &token).unwrap());
    let op = Operation::new("trigger", "form");
    let request = Request::new(Method::POST, url(&server, "/form")).form(b"a=1&b=two+words");
    let reply = http.idempotent(&op, &request).await.unwrap();
    assert_eq!(reply.status, StatusCode::CREATED);
    mock.assert_async().await;
}

#[test]
fn basic_auth_refuses_a_user_with_a_colon_and_hides_the_token() {
    let token = Token::new("s3cret").unwrap();
    assert!(matches!(
        Auth::basic("al:ice", &token),
        Err(Error::Configuration { .. })
    ));
    let auth = Auth::basic("alice", &token).unwrap();
    let shown = format!("{auth:?}");
    assert!(!shown.contains("YWxpY2U6czNjcmV0"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

fn location(reply: &Reply) -> buildrunner_api::Result<String> {
    reply
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Error::Protocol {
            message: "no location".to_owned(),
            source: None,
        })
}

#[tokio::test]
async fn a_create_answered_by_a_listed_redirect_is_decoded_and_others_are_refusals() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/merged");
            then.status(303).header("location", "/item/9/");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/refused");
            then.status(302).header("location", ".");
        })
        .await;
    let http = client(&server, Auth::None);
    let op = Operation::new("trigger", "redirects");
    let refused = |reply: &Reply| Error::Rejected {
        message: format!("refused with {}", reply.status.as_u16()),
    };
    let none = None::<fn() -> std::future::Ready<buildrunner_api::Result<Option<String>>>>;
    const ANSWERS: &[StatusCode] = &[StatusCode::SEE_OTHER];
    let merged = Request::new(Method::POST, url(&server, "/merged")).answered_by(ANSWERS);
    let made = http.create(&op, &merged, location, refused, none).await;
    assert_eq!(made.unwrap(), "/item/9/");
    let other = Request::new(Method::POST, url(&server, "/refused")).answered_by(ANSWERS);
    let made = http.create(&op, &other, location, refused, none).await;
    assert!(
        matches!(made, Err(Error::Rejected { ref message }) if message.contains("302")),
        "{made:?}"
    );
    // Without the list, a 303 is a refusal like any other redirect.
    let plain = Request::new(Method::POST, url(&server, "/merged"));
    let made = http.create(&op, &plain, location, refused, none).await;
    assert!(matches!(made, Err(Error::Rejected { .. })), "{made:?}");
}

#[tokio::test]
async fn html_where_json_was_expected_says_so() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/login");
            then.status(200)
                .header("content-type", "text/html;charset=utf-8")
                .body("<html><body><form action=\"j_spring_security_check\"></form></body></html>");
        })
        .await;
    let http = client(&server, Auth::None);
    let op = Operation::new("status", "acme/1");
    let answer: buildrunner_api::Result<serde_json::Value> =
        http.fetch(&op, &Request::get(url(&server, "/login"))).await;
    match answer {
        Err(Error::Protocol { message, .. }) => {
            assert!(
                message.contains("HTML page where JSON was expected"),
                "{message}"
            );
            assert!(message.starts_with("status acme/1"), "{message}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_203_sign_in_page_is_unauthenticated_for_reads_and_creates() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(203)
                .header("content-type", "text/html; charset=utf-8")
                .body("<html><head><title>Azure DevOps Services | Sign In</title></head></html>");
        })
        .await;
    let http = client(&server, Auth::None);
    let op = Operation::new("status", "acme/app/4/11");
    let read: buildrunner_api::Result<serde_json::Value> =
        http.fetch(&op, &Request::get(url(&server, "/build"))).await;
    assert!(
        matches!(read, Err(Error::Unauthenticated { ref message }) if message.contains("sign-in page")),
        "{read:?}"
    );
    let none = None::<fn() -> std::future::Ready<buildrunner_api::Result<Option<()>>>>;
    let create = Request::new(Method::POST, url(&server, "/runs"));
    let refused = |reply: &Reply| reply.error(&op);
    let made = http.create(&op, &create, |_| Ok(()), refused, none).await;
    assert!(
        matches!(made, Err(Error::Unauthenticated { .. })),
        "{made:?}"
    );
}
