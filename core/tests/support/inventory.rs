//! The inventory of `tests/vectors/`: which files exist and how many cases each holds.
//!
//! The table in `tests/vectors/README.md` is the source of truth. A runner calls [`check_files`]
//! with the files it knows how to run (a file nobody runs fails every runner), and loads each file
//! through [`load`], which fails when the case count (or the count of `equality` pairs) differs
//! from the table. Shared by the vector runners of `lime-core` and `lime-dart`.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use serde_json::Value;

/// Expected counts for one file: cases, and equality pairs where the file has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub cases: usize,
    pub equality: Option<usize>,
}

/// `tests/vectors/`: the first directory above `manifest_dir` that holds `tests/vectors/README.md`.
pub fn dir(manifest_dir: &str) -> PathBuf {
    let mut dir = PathBuf::from(manifest_dir);
    loop {
        let candidate = dir.join("tests/vectors/README.md");
        if candidate.is_file() {
            return dir.join("tests/vectors");
        }
        assert!(dir.pop(), "tests/vectors/README.md not found above {manifest_dir}");
    }
}

/// Parses the `| file | cases | what |` table of the README.
pub fn expected_counts(dir: &Path) -> BTreeMap<String, Counts> {
    let readme = dir.join("README.md");
    let text = fs::read_to_string(&readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // ["", "`envelopes.json`", "108", "what", ""]
        if cells.len() < 4 {
            continue;
        }
        let Some(file) = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix(".json`")) else {
            continue;
        };
        let (cases, rest) = match cells[2].split_once(' ') {
            Some((n, rest)) => (n, Some(rest)),
            None => (cells[2], None),
        };
        let cases: usize = cases
            .parse()
            .unwrap_or_else(|_| panic!("README.md: bad case count {:?} for {file}", cells[2]));
        let equality = rest.map(|rest| {
            rest.trim_start_matches("(+")
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("README.md: bad pair count {rest:?} for {file}"))
        });
        let previous = counts.insert(format!("{file}.json"), Counts { cases, equality });
        assert!(previous.is_none(), "README.md lists {file}.json twice");
    }
    assert!(!counts.is_empty(), "README.md: no `| file | cases |` table found");
    counts
}

/// The `*.json` files present in the directory.
pub fn present(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    files
}

/// Fails unless the directory, the README table and the runner's list name the same files.
pub fn check_files(manifest_dir: &str, runner: &str, known: &[&str]) {
    let dir = dir(manifest_dir);
    let on_disk = present(&dir);
    let listed: Vec<String> = expected_counts(&dir).into_keys().collect();
    let mut known: Vec<String> = known.iter().map(|s| (*s).to_owned()).collect();
    known.sort();
    let missing: Vec<&String> = listed.iter().filter(|f| !on_disk.contains(f)).collect();
    assert!(
        missing.is_empty(),
        "{runner}: vector file(s) listed in README.md but missing: {missing:?}"
    );
    let unlisted: Vec<&String> = on_disk.iter().filter(|f| !listed.contains(f)).collect();
    assert!(unlisted.is_empty(), "{runner}: vector file(s) not in README.md's table: {unlisted:?}");
    let unknown: Vec<&String> = on_disk.iter().filter(|f| !known.contains(f)).collect();
    assert!(unknown.is_empty(), "{runner}: vector file(s) this runner does not run: {unknown:?}");
    let gone: Vec<&String> = known.iter().filter(|f| !on_disk.contains(f)).collect();
    assert!(gone.is_empty(), "{runner}: vector file(s) this runner expects but missing: {gone:?}");
}

/// Loads one file and checks its counts against the README table.
pub fn load(manifest_dir: &str, file: &str) -> Value {
    let dir = dir(manifest_dir);
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let want = *expected_counts(&dir)
        .get(file)
        .unwrap_or_else(|| panic!("{file} is not in tests/vectors/README.md's table"));
    let cases = value["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: `cases` is not an array"))
        .len();
    assert_eq!(cases, want.cases, "{file}: {cases} cases, README.md says {}", want.cases);
    let pairs = value.get("equality").map(|pairs| {
        pairs.as_array().unwrap_or_else(|| panic!("{file}: `equality` is not an array")).len()
    });
    assert_eq!(
        pairs, want.equality,
        "{file}: equality pairs {pairs:?}, README.md says {:?}",
        want.equality
    );
    value
}
