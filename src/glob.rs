//! Docker's glob patterns, one engine for every place burrow matches one:
//! `*` and `?` within one `/`-separated component, `[...]` classes, `\`
//! escapes, `**` across components (as `.dockerignore` has it), and the
//! shell's `*` across `/` for `${V#pattern}`. Pure string work.

/// One compiled pattern piece.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`: any run of characters but `/` (with `cross`, any run at all).
    Star,
    /// `?`: one character but `/`.
    One,
    /// `**` followed by more: nothing, or anything ending with `/`.
    AnyDirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

fn compile(pattern: &str, cross: bool) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if !cross && chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                out.push(if i >= chars.len() {
                    Token::Rest
                } else {
                    Token::AnyDirs
                });
            }
            '*' => {
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push(if cross { Token::Rest } else { Token::Star });
            }
            '?' => out.push(Token::One),
            '\\' if i < chars.len() => {
                out.push(Token::Char(chars[i]));
                i += 1;
            }
            '[' => {
                let start = i;
                let negated = matches!(chars.get(i), Some('^') | Some('!'));
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                let mut first = true;
                while i < chars.len() {
                    let mut lo = chars[i];
                    if lo == ']' && !first {
                        closed = true;
                        i += 1;
                        break;
                    }
                    first = false;
                    i += 1;
                    if lo == '\\' && i < chars.len() {
                        lo = chars[i];
                        i += 1;
                    }
                    let mut hi = lo;
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
                        hi = chars[i + 1];
                        i += 2;
                        if hi == '\\' && i < chars.len() {
                            hi = chars[i];
                            i += 1;
                        }
                    }
                    ranges.push((lo, hi));
                }
                if closed {
                    out.push(Token::Class(negated, ranges));
                } else {
                    // An unclosed bracket is a literal `[`.
                    out.push(Token::Char('['));
                    i = start;
                }
            }
            c => out.push(Token::Char(c)),
        }
    }
    out
}

fn matches(tokens: &[Token], name: &[char]) -> bool {
    let Some((t, rest)) = tokens.split_first() else {
        return name.is_empty();
    };
    match t {
        Token::Char(c) => name.first() == Some(c) && matches(rest, &name[1..]),
        Token::One => name.first().is_some_and(|&c| c != '/') && matches(rest, &name[1..]),
        Token::Class(neg, ranges) => {
            name.first().is_some_and(|&c| {
                c != '/' && ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *neg
            }) && matches(rest, &name[1..])
        }
        Token::Star => {
            for i in 0..=name.len() {
                if matches(rest, &name[i..]) {
                    return true;
                }
                if i < name.len() && name[i] == '/' {
                    return false;
                }
            }
            false
        }
        Token::Rest => (0..=name.len()).any(|i| matches(rest, &name[i..])),
        Token::AnyDirs => {
            matches(rest, name)
                || (0..name.len()).any(|i| name[i] == '/' && matches(rest, &name[i + 1..]))
        }
    }
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<Token>);

impl Glob {
    /// A path pattern, as Go's `path.Match` and `.dockerignore` read one:
    /// `*` stops at `/`, `**` crosses it.
    pub fn path(pattern: &str) -> Glob {
        Glob(compile(pattern, false))
    }

    /// A shell pattern (`${V#pattern}`): `*` matches any run, `/` included.
    pub fn shell(pattern: &str) -> Glob {
        Glob(compile(pattern, true))
    }

    /// Whether the whole of `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.matches_chars(&name)
    }

    /// `is_match` on a name already split into characters (a path and its
    /// parents, matched one after another).
    pub fn matches_chars(&self, name: &[char]) -> bool {
        matches(&self.0, name)
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn path_stars_stay_in_one_component_and_shell_stars_do_not() {
        assert!(Glob::path("busy*:*libc").is_match("busybox:uclibc"));
        assert!(!Glob::path("*").is_match("quay.io/app"));
        assert!(Glob::path("*/*").is_match("quay.io/app"));
        assert!(Glob::path("a/**").is_match("a/b/c"));
        assert!(Glob::path("v[0-9].?").is_match("v1.2"));
        assert!(!Glob::path("v[!0-9]").is_match("v1"));
        assert!(Glob::shell("*.tar").is_match("dir/x.tar"));
        assert!(Glob::shell("*/").is_match("/usr/local/"));
        assert!(Glob::shell("*:").is_match("/usr/local/bin:"));
        assert!(!Glob::shell("a?").is_match("a"));
    }
}
