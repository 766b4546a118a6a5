//! `${VAR}` interpolation of compose file values, as the compose
//! specification defines it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`,
//! `${VAR+alt}` and `$$` for a literal `$`. Pure: the caller gives the
//! variables.

/// Why a value could not be interpolated (the caller adds file and key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    #[error("invalid interpolation format for {0:?}: a `${{` without its `}}`")]
    Unterminated(String),
    #[error("invalid interpolation format for {0:?}: {1:?} is not a variable name")]
    BadName(String, String),
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
}

/// Interpolates `s`; `lookup` answers a variable's value (None if unset).
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end =
                closing_brace(body).ok_or_else(|| InterpolationError::Unterminated(s.into()))?;
            out.push_str(&braced(s, &body[..end], lookup)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 || after.starts_with(|c: char| c.is_ascii_digit()) {
                // A lone `$` (as in a price or a regex) stays as it is.
                out.push('$');
                rest = after;
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
                rest = &after[len..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` that closes a `${`, counting nested `${...}`.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    whole: &str,
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(name_len);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(InterpolationError::BadName(whole.into(), inner.into()));
    }
    let value = lookup(name);
    let set_non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (kind, arg) = match op {
        "" => return Ok(value.unwrap_or_default()),
        _ if op.starts_with(":-") || op.starts_with(":?") || op.starts_with(":+") => {
            (&op[..2], &op[2..])
        }
        _ if op.starts_with('-') || op.starts_with('?') || op.starts_with('+') => {
            (&op[..1], &op[1..])
        }
        _ => return Err(InterpolationError::BadName(whole.into(), inner.into())),
    };
    let arg = || interpolate(arg, lookup);
    Ok(match kind {
        ":-" if !set_non_empty => arg()?,
        "-" if value.is_none() => arg()?,
        ":?" if !set_non_empty => return Err(required(name, arg()?)),
        "?" if value.is_none() => return Err(required(name, arg()?)),
        ":+" if set_non_empty => arg()?,
        "+" if value.is_some() => arg()?,
        ":+" | "+" => String::new(),
        _ => value.unwrap_or_default(),
    })
}

fn required(name: &str, message: String) -> InterpolationError {
    InterpolationError::Required {
        name: name.into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(s: &str) -> Result<String, InterpolationError> {
        let vars = |k: &str| match k {
            "SET" => Some("v".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        interpolate(s, &vars)
    }

    #[test]
    fn plain_braced_and_dollar_dollar() {
        assert_eq!(with("a $SET b ${SET}c").unwrap(), "a v b vc");
        assert_eq!(with("$$SET and $${SET}").unwrap(), "$SET and ${SET}");
        assert_eq!(with("${UNSET}x$UNSET").unwrap(), "x");
        assert_eq!(with("cost $5 or $").unwrap(), "cost $5 or $");
    }

    #[test]
    fn defaults_tell_unset_from_empty() {
        assert_eq!(with("${UNSET:-d}").unwrap(), "d");
        assert_eq!(with("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(with("${EMPTY-d}").unwrap(), "");
        assert_eq!(with("${UNSET-d}").unwrap(), "d");
        assert_eq!(with("${SET:-d}").unwrap(), "v");
        assert_eq!(with("${UNSET:-${SET}x}").unwrap(), "vx");
        assert_eq!(with("${SET:+alt}${UNSET:+alt}").unwrap(), "alt");
        assert_eq!(with("${EMPTY+alt}").unwrap(), "alt");
    }

    #[test]
    fn required_variables_and_bad_forms_are_errors() {
        assert_eq!(
            with("${UNSET:?give it}").unwrap_err(),
            InterpolationError::Required {
                name: "UNSET".into(),
                message: "give it".into()
            }
        );
        assert!(with("${EMPTY:?no}").is_err());
        assert_eq!(with("${EMPTY?no}").unwrap(), "");
        assert!(matches!(
            with("${SET").unwrap_err(),
            InterpolationError::Unterminated(_)
        ));
        assert!(matches!(
            with("${}").unwrap_err(),
            InterpolationError::BadName(..)
        ));
        assert!(matches!(
            with("${A B}").unwrap_err(),
            InterpolationError::BadName(..)
        ));
    }
}
