//! What the READMEs and the crate pages (docs.rs) both show is one text: the configuration
//! table lives in `oz-api/docs/configuration.md`, which oz-api's crate docs include, and the
//! workspace README carries it verbatim.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn the_readme_shows_the_configuration_table_of_the_crate_page() {
    let table = read("oz-api/docs/configuration.md");
    assert!(table.starts_with("| setting |"), "{table}");
    assert!(
        read("README.md").contains(&table),
        "README.md's configuration table differs from oz-api/docs/configuration.md \
         (the one docs.rs shows); copy that file's table into the README"
    );
    assert!(
        read("oz-api/src/lib.rs").contains("include_str!(\"../docs/configuration.md\")"),
        "oz-api's crate docs include the table"
    );
}

#[test]
fn every_feature_of_the_published_crates_is_documented_for_the_feature_table() {
    for manifest in ["oz-api/Cargo.toml", "oz-api-ext/Cargo.toml"] {
        let text = read(manifest);
        let features = text
            .split("\n[features]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_else(|| panic!("{manifest} has a [features] table"));
        let mut documented = false;
        for line in features.lines() {
            let line = line.trim();
            if line.starts_with("##") {
                documented = true;
            } else if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                assert!(
                    documented || name == "default",
                    "{manifest}: feature `{name}` has no `##` comment, so the crate page's \
                     feature table would leave it out"
                );
                documented = false;
            }
        }
    }
}
