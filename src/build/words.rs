//! Words of a Containerfile as docker reads them: quote removal, escapes
//! and `$VAR` substitution (`${V:-x}`, `${V:+x}`, `${V-x}`, `${V+x}`,
//! `${V:?msg}`, `${V#p}`, `${V%p}`), with the escape character the file's
//! `# escape=` directive chose. Pure functions: no environment is read here.

use std::collections::BTreeMap;

/// The variables a word is expanded with: a stage's ENV over its ARGs.
pub type Vars = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordError {
    #[error("unterminated quote in {0:?}")]
    Quote(String),
    #[error("missing '}}' in {0:?}")]
    Brace(String),
    #[error("bad substitution in {0:?}")]
    BadSubstitution(String),
    #[error("{name}: {message}")]
    Required { name: String, message: String },
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a Vars,
    source: &'a str,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    /// Reads up to (not including) an unquoted `stop`, or the end.
    fn word(&mut self, stop: Option<char>) -> Result<String, WordError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                break;
            }
            self.pos += 1;
            if c == self.escape {
                // An escape at the very end is dropped, as docker does.
                if let Some(n) = self.next() {
                    out.push(n);
                }
            } else if c == '\'' {
                out.push_str(&self.single_quoted()?);
            } else if c == '"' {
                out.push_str(&self.double_quoted()?);
            } else if c == '$' {
                out.push_str(&self.dollar()?);
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn single_quoted(&mut self) -> Result<String, WordError> {
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(WordError::Quote(self.source.to_string())),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, WordError> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(WordError::Quote(self.source.to_string())),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => {
                    self.pos += 1;
                    out.push_str(&self.dollar()?);
                }
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            // Only these are escaped inside double quotes;
                            // any other escape character stays as written.
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                out.push(n);
                            }
                            Some(_) => out.push(c),
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, WordError> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced()
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).cloned().unwrap_or_default())
            }
            // A positional or special parameter: docker expands it to
            // nothing (there are none at build time).
            Some(c) if c.is_ascii_digit() || c == '*' || c == '@' || c == '#' => {
                self.pos += 1;
                Ok(String::new())
            }
            _ => Ok("$".into()),
        }
    }

    fn braced(&mut self) -> Result<String, WordError> {
        let name = self.name();
        if name.is_empty() {
            return Err(WordError::BadSubstitution(self.source.to_string()));
        }
        let value = self.vars.get(&name).cloned();
        let op = self
            .next()
            .ok_or_else(|| WordError::Brace(self.source.to_string()))?;
        if op == '}' {
            return Ok(value.unwrap_or_default());
        }
        let (colon, op) = if op == ':' {
            let o = self
                .next()
                .ok_or_else(|| WordError::Brace(self.source.to_string()))?;
            (true, o)
        } else {
            (false, op)
        };
        let longest = (op == '#' || op == '%') && !colon && self.peek() == Some(op) && {
            self.pos += 1;
            true
        };
        let word = self.word(Some('}'))?;
        if self.next() != Some('}') {
            return Err(WordError::Brace(self.source.to_string()));
        }
        // With a colon, an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            '-' => Ok(if set { value.unwrap_or_default() } else { word }),
            '+' => Ok(if set { word } else { String::new() }),
            '?' if set => Ok(value.unwrap_or_default()),
            '?' => Err(WordError::Required {
                name,
                message: if word.is_empty() {
                    "is not allowed to be unset".into()
                } else {
                    word
                },
            }),
            '#' if !colon => {
                let v = value.unwrap_or_default();
                Ok(strip_prefix_glob(&v, &word, longest))
            }
            '%' if !colon => {
                let v = value.unwrap_or_default();
                Ok(strip_suffix_glob(&v, &word, longest))
            }
            _ => Err(WordError::BadSubstitution(self.source.to_string())),
        }
    }
}

/// `${V#pattern}` (`##`: longest): a prefix matching `pattern` removed.
fn strip_prefix_glob(value: &str, pattern: &str, longest: bool) -> String {
    let cuts: Vec<usize> = (0..=value.len())
        .filter(|&i| value.is_char_boundary(i))
        .collect();
    let mut order: Box<dyn Iterator<Item = &usize>> = if longest {
        Box::new(cuts.iter().rev())
    } else {
        Box::new(cuts.iter())
    };
    let glob = crate::glob::Glob::shell(pattern);
    match order.find(|&&i| glob.is_match(&value[..i])) {
        Some(&i) => value[i..].to_string(),
        None => value.to_string(),
    }
}

/// `${V%pattern}` (`%%`: longest): a suffix matching `pattern` removed.
fn strip_suffix_glob(value: &str, pattern: &str, longest: bool) -> String {
    let cuts: Vec<usize> = (0..=value.len())
        .filter(|&i| value.is_char_boundary(i))
        .collect();
    let mut order: Box<dyn Iterator<Item = &usize>> = if longest {
        Box::new(cuts.iter())
    } else {
        Box::new(cuts.iter().rev())
    };
    let glob = crate::glob::Glob::shell(pattern);
    match order.find(|&&i| glob.is_match(&value[i..])) {
        Some(&i) => value[..i].to_string(),
        None => value.to_string(),
    }
}

/// One word: quotes removed, escapes applied, variables substituted.
pub fn expand(word: &str, escape: char, vars: &Vars) -> Result<String, WordError> {
    Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        vars,
        source: word,
    }
    .word(None)
}

/// Quotes and escapes removed, no substitution (a quoted heredoc name, a
/// stage name).
pub fn unquote(word: &str, escape: char) -> Result<String, WordError> {
    let none = Vars::new();
    let mut l = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        vars: &none,
        source: word,
    };
    // `$` is literal here: read it through a fake escape.
    let mut out = String::new();
    while let Some(c) = l.peek() {
        if c == '$' {
            l.pos += 1;
            out.push('$');
        } else {
            out.push_str(&l.word_until_dollar()?);
        }
    }
    Ok(out)
}

impl Lexer<'_> {
    fn word_until_dollar(&mut self) -> Result<String, WordError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '$' {
                break;
            }
            self.pos += 1;
            if c == self.escape {
                if let Some(n) = self.next() {
                    out.push(n);
                }
            } else if c == '\'' {
                out.push_str(&self.single_quoted()?);
            } else if c == '"' {
                // Inside double quotes `$` stays literal for unquote.
                loop {
                    match self.next() {
                        None => return Err(WordError::Quote(self.source.to_string())),
                        Some('"') => break,
                        Some(e) if e == self.escape => match self.peek() {
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                out.push(n);
                            }
                            Some(_) => out.push(e),
                            None => {}
                        },
                        Some(x) => out.push(x),
                    }
                }
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }
}

/// Splits on blanks outside quotes, keeping quotes and escapes in the
/// words (they are removed when each word is expanded): how ENV, LABEL and
/// ARG see their arguments.
pub fn split_quoted(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
            continue;
        }
        in_word = true;
        if c == escape && quote != Some('\'') {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '\'' || c == '"' => quote = Some(c),
            _ => {}
        }
        cur.push(c);
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Splits on blanks only, quotes and all: how COPY, EXPOSE, VOLUME and
/// the other list instructions see their arguments in shell form.
pub fn split_blanks(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("A", "one"), ("E", ""), ("P", "/usr/local/bin:/bin")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn x(w: &str) -> String {
        expand(w, '\\', &vars()).unwrap()
    }

    #[test]
    fn variables_expand_as_docker_does() {
        assert_eq!(x("$A"), "one");
        assert_eq!(x("${A}x"), "onex");
        assert_eq!(x("$Ax"), "");
        assert_eq!(x("$NOPE"), "");
        assert_eq!(x("${NOPE:-dflt}"), "dflt");
        assert_eq!(x("${E:-dflt}"), "dflt");
        assert_eq!(x("${E-dflt}"), "");
        assert_eq!(x("${A:-dflt}"), "one");
        assert_eq!(x("${A:+alt}"), "alt");
        assert_eq!(x("${NOPE:+alt}"), "");
        assert_eq!(x("${E+alt}"), "alt");
        assert_eq!(x("${E:+alt}"), "");
        assert_eq!(x("${NOPE:-$A}"), "one");
        assert_eq!(x("${P%%:*}x"), "/usrx".replace("/usrx", "/usr/local/binx"));
        assert_eq!(x("${P%%/*}"), "");
        assert_eq!(x("${P##*/}"), "bin");
        assert_eq!(x("${P#*/}"), "usr/local/bin:/bin");
        assert_eq!(x("${P#*:}"), "/bin");
        assert_eq!(x("${P%:*}"), "/usr/local/bin");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$1x"), "x");
    }

    #[test]
    fn quotes_and_escapes_as_docker_does() {
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "one b");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("\"\\$A\""), "$A");
        assert_eq!(x("\"a\\nb\""), "a\\nb");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(x("\"x\\\"y\""), "x\"y");
        assert_eq!(x("end\\"), "end");
        assert_eq!(expand("`$A", '`', &vars()).unwrap(), "$A");
        assert_eq!(expand("C:\\dir", '`', &vars()).unwrap(), "C:\\dir");
        assert!(expand("'open", '\\', &vars()).is_err());
        assert!(expand("${A", '\\', &vars()).is_err());
        assert!(expand("${}", '\\', &vars()).is_err());
        assert_eq!(
            expand("${NOPE:?must be set}", '\\', &vars()).unwrap_err(),
            WordError::Required {
                name: "NOPE".into(),
                message: "must be set".into()
            }
        );
    }

    #[test]
    fn unquote_keeps_dollars() {
        assert_eq!(unquote("\"EOF\"", '\\').unwrap(), "EOF");
        assert_eq!(unquote("'$A'b", '\\').unwrap(), "$Ab");
        assert_eq!(unquote("$A", '\\').unwrap(), "$A");
    }

    #[test]
    fn quoted_split_keeps_quoted_blanks_together() {
        assert_eq!(
            split_quoted(r#"a=1 b="x y" c='p q' d=e\ f"#, '\\'),
            vec!["a=1", "b=\"x y\"", "c='p q'", "d=e\\ f"]
        );
        assert_eq!(split_blanks("  a  \"b c\" "), vec!["a", "\"b", "c\""]);
    }
}
