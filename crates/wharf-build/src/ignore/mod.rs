//! `.dockerignore`: which files of the build context are left out.
//!
//! Reading follows `moby/patternmatcher/ignorefile`: lines starting with `#` are
//! comments, blank lines are skipped, each pattern is trimmed and cleaned
//! (`filepath.Clean`, so `./a/` is `a`) and a leading `/` is dropped; `!` marks an
//! exception. Matching follows `PatternMatcher.MatchesOrParentMatches`: the last pattern
//! that matches the path, or one of its parent directories, decides, so excluding a
//! directory excludes what is under it unless a later exception re-includes it.

mod pattern;

use pattern::{clean, Pattern};

/// A rejected pattern (docker fails the build on these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    IllegalExclusion,
    #[error("invalid .dockerignore pattern {0:?}: syntax error in pattern")]
    BadPattern(String),
}

/// Parsed `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// The patterns of a `.dockerignore` file (`ignorefile.ReadAll`).
fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut p = p.to_string();
        if !p.is_empty() {
            p = clean(&p);
            if p.len() > 1 {
                if let Some(rest) = p.strip_prefix('/') {
                    p = rest.to_string();
                }
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push(p);
    }
    out
}

impl Ignore {
    /// Parses a `.dockerignore` file, leaving out patterns docker would reject (see
    /// [`Ignore::try_parse`]).
    pub fn parse(text: &str) -> Ignore {
        Self::build(text, false).unwrap_or_default()
    }

    /// Parses a `.dockerignore` file, failing on a pattern docker rejects: a lone `!`
    /// or invalid glob syntax (an unclosed `[`, a trailing `\`).
    pub fn try_parse(text: &str) -> Result<Ignore, IgnoreError> {
        Self::build(text, true)
    }

    fn build(text: &str, strict: bool) -> Result<Ignore, IgnoreError> {
        let mut patterns = Vec::new();
        for p in read_patterns(text) {
            // `patternmatcher.New`: trim and clean once more, then split off `!`.
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let p = clean(p);
            let (exclusion, body) = match p.strip_prefix('!') {
                Some("") if strict => return Err(IgnoreError::IllegalExclusion),
                Some("") => continue,
                Some(rest) => (true, rest),
                None => (false, p.as_str()),
            };
            match Pattern::new(body, exclusion) {
                Some(pat) => patterns.push(pat),
                None if strict => return Err(IgnoreError::BadPattern(p.clone())),
                None => {}
            }
        }
        Ok(Ignore { patterns })
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern is an exception (`!…`).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// The patterns as cleaned, exceptions with their `!`.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns.iter().map(|p| format!("{p:?}")).collect()
    }

    /// Whether `rel_path` (relative to the context root, `/`-separated) is excluded.
    /// The context root itself never is.
    pub fn matches(&self, rel_path: &str) -> bool {
        let file = clean(rel_path.trim_start_matches('/'));
        if file == "." {
            return false;
        }
        // Ends of the parent directories: `a`, `a/b` for `a/b/c`.
        let parents: Vec<usize> = file.match_indices('/').map(|(i, _)| i).collect();
        let mut matched = false;
        for p in &self.patterns {
            // An exception only matters once excluded, an exclusion only until then.
            if p.exclusion != matched {
                continue;
            }
            let hit = p.matches_at_depth(&file, parents.len())
                || parents
                    .iter()
                    .enumerate()
                    .any(|(depth, &end)| p.matches_at_depth(&file[..end], depth));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// False when directory `rel_dir` and everything below it are excluded and no
    /// exception could re-include something inside, so a walker can skip it.
    pub fn dir_may_contain_included(&self, rel_dir: &str) -> bool {
        let dir = clean(rel_dir.trim_start_matches('/'));
        if dir == "." || !self.matches(&dir) {
            return true;
        }
        // Patterns that cannot match below `dir` give every descendant the answer they
        // give `dir` itself (or, for exclusions, a stronger one); only an exception
        // reaching below can change the outcome.
        self.patterns
            .iter()
            .any(|p| p.exclusion && p.may_match_below(&dir))
    }
}

#[cfg(test)]
mod tests;
