//! The README's API example is `examples/echo.rs` word for word, so the code a newcomer
//! reads first is the code CI compiles and runs.

#[test]
fn readme_example_is_the_echo_example() {
    let readme = include_str!("../../../README.md");
    let start = readme.find("```rust\n").expect("README has a Rust example") + "```rust\n".len();
    let end = start + readme[start..].find("```").expect("the example block ends");
    let in_readme = readme[start..end].trim();
    let example = include_str!("../examples/echo.rs");
    let code = &example[example.find("use std::").expect("example starts with imports")..];
    assert_eq!(in_readme, code.trim(), "README.md and crates/wsk/examples/echo.rs drifted apart");
}
