//! The harness itself: a tool a test needs and the machine lacks fails the test with a message
//! that says how to install it, unless `KADI_TEST_ALLOW_MISSING` names it on purpose.
mod support;

use support::{require_tool, ALLOW_MISSING};

#[test]
fn a_missing_tool_fails_the_test_unless_it_is_allowed_on_purpose() {
    // The only test of this binary: it alone touches the environment.
    let tool = "kadi-no-such-tool";
    std::env::remove_var(ALLOW_MISSING);
    let failed = std::panic::catch_unwind(|| require_tool(tool))
        .expect_err("a missing tool must fail the test");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains(tool) && message.contains(ALLOW_MISSING),
        "{message}"
    );
    std::env::set_var(ALLOW_MISSING, format!("sqlite3,{tool}"));
    assert_eq!(require_tool(tool), None, "named on purpose: skipped");
    std::env::set_var(ALLOW_MISSING, "sqlite3");
    assert!(
        std::panic::catch_unwind(|| require_tool(tool)).is_err(),
        "another tool named does not allow this one"
    );
    std::env::remove_var(ALLOW_MISSING);
    assert!(require_tool("sh").is_some_and(|p| p.ends_with("/sh")));
}
