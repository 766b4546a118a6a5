//! `.containerignore` / `.dockerignore`: which context paths a build never
//! sees. Hand-written because no maintained crate has docker's rules: the
//! `ignore` and `globset` crates follow gitignore (a pattern without a
//! slash matches at any depth, a trailing `/` means directories only),
//! while docker anchors every pattern at the context root, cleans it as a
//! path (leading `/` and `./` go), matches `*`/`?` within one component,
//! `**` across any number, lets a later `!` pattern re-include, and counts
//! a match of any parent directory as a match of the path.

use crate::glob::Glob;

/// Cleans a path as Go's `filepath.Clean` does.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    text: String,
    glob: Glob,
}

/// The patterns of an ignore file, in order.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Reads an ignore file's text: `#` lines are comments, blanks are
    /// trimmed, `!` re-includes, each pattern cleaned as a path and made
    /// relative to the context.
    pub fn parse(text: &str) -> Ignore {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            let mut p = if p.is_empty() {
                String::new()
            } else {
                clean(p)
            };
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
            patterns.push(Pattern {
                exclusion,
                glob: Glob::path(&p),
                text: p,
            });
        }
        Ignore { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether some `!` pattern exists: then an excluded directory must
    /// still be walked, for what the exceptions bring back.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is left
    /// out: the last pattern that matches it or one of its parents decides.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let name: Vec<char> = path.chars().collect();
        let parents: Vec<usize> = name
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == '/')
            .map(|(i, _)| i)
            .collect();
        let mut excluded = false;
        for p in &self.patterns {
            // An inclusion only matters once something excluded the path,
            // an exclusion only while it is not.
            if p.exclusion != excluded {
                continue;
            }
            let hit = p.glob.matches_chars(&name)
                || parents.iter().any(|&i| p.glob.matches_chars(&name[..i]));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// The patterns, as cleaned (for a cache key and for messages).
    pub fn texts(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exclusion {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text)
    }

    #[test]
    fn patterns_are_anchored_at_the_context_root() {
        let i = ig("*.md\n");
        assert!(i.excludes("README.md"));
        assert!(!i.excludes("docs/README.md"), "no gitignore-style depth");
        let i = ig("**/*.md\n");
        assert!(i.excludes("README.md") && i.excludes("docs/a/b.md"));
    }

    #[test]
    fn a_matching_parent_excludes_the_path() {
        let i = ig("build\n");
        assert!(i.excludes("build"));
        assert!(i.excludes("build/x/y.o"));
        assert!(!i.excludes("builder"));
        let i = ig("a/*\n");
        assert!(i.excludes("a/b/c"));
    }

    #[test]
    fn exceptions_reinclude_in_order() {
        let i = ig("*.md\n!README.md\n");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        let i = ig("!README.md\n*.md\n");
        assert!(i.excludes("README.md"), "the last match wins");
        let i = ig("docs\n!docs/keep.txt\n");
        assert!(!i.excludes("docs/keep.txt"));
        assert!(i.excludes("docs/other.txt"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn leading_slash_dot_and_blanks_are_cleaned() {
        let i = ig("# comment\n  /secret.txt  \n./tmp/\n\n");
        assert!(i.excludes("secret.txt"));
        assert!(i.excludes("tmp/x"));
        assert_eq!(i.texts(), vec!["secret.txt", "tmp"]);
        assert!(!i.excludes("# comment"));
        let i = ig(" # not a comment\n");
        assert!(i.excludes("# not a comment"));
    }

    #[test]
    fn the_ignore_file_itself_can_be_matched() {
        let i = ig(".dockerignore\nContainerfile\n");
        assert!(i.excludes(".dockerignore"));
        assert!(i.excludes("Containerfile"));
    }

    #[test]
    fn double_star_single_star_question_and_classes() {
        let i = ig("a/**/z\n");
        assert!(i.excludes("a/z") && i.excludes("a/b/z") && i.excludes("a/b/c/z"));
        assert!(!i.excludes("a/bz"));
        let i = ig("x/**\n");
        assert!(i.excludes("x/y") && i.excludes("x/y/z"));
        let i = ig("f?le.[ch]\n");
        assert!(i.excludes("file.c") && i.excludes("fole.h"));
        assert!(!i.excludes("file.o") && !i.excludes("f/le.c"));
        let i = ig("[!a]*\n");
        assert!(i.excludes("bcd") && !i.excludes("abc"));
        let i = ig("**\n!keep\n");
        assert!(i.excludes("anything/at/all"));
        assert!(!i.excludes("keep"));
        let i = ig("\\*lit\n");
        assert!(i.excludes("*lit") && !i.excludes("xlit"));
    }

    #[test]
    fn go_clean() {
        assert_eq!(clean("./a/../b//c/"), "b/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("a/.."), ".");
    }
}
