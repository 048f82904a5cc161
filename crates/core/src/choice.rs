//! Enums with a few named values (settings such as `--render` and `--extract`, the transport
//! failure kinds): one table of labels per enum, read by its `Display` and `FromStr`, by its
//! serde form in `haul.toml` and by `--help`.

/// An enum whose values are known by name. Its [`VALUES`](Self::VALUES) table holds, for each
/// value in the order help lists them, the label users write and read (the same as its serde
/// form) and one line on what it means.
pub trait Choice: Copy + Eq + Sized + 'static {
    /// Every value: `(value, label, one-line summary)`.
    const VALUES: &'static [(Self, &'static str, &'static str)];

    /// The label of this value (`auto`, `never`...).
    fn label(self) -> &'static str {
        Self::VALUES
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or("?", |(_, label, _)| label)
    }

    /// The value with this label; an error naming the label and the allowed ones otherwise.
    fn from_label(s: &str) -> Result<Self, UnknownChoice> {
        Self::VALUES
            .iter()
            .find(|(_, label, _)| *label == s)
            .map(|(v, _, _)| *v)
            .ok_or_else(|| UnknownChoice {
                value: s.to_string(),
                allowed: Self::VALUES.iter().map(|(_, label, _)| *label).collect(),
            })
    }
}

/// A label that names no value of a [`Choice`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of {}", allowed.join(", "))]
pub struct UnknownChoice {
    /// The label given.
    pub value: String,
    /// The labels allowed.
    pub allowed: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExtractMode;

    #[test]
    fn labels_round_trip_and_match_serde_and_a_bad_one_names_the_allowed() {
        for &(mode, label, _) in ExtractMode::VALUES {
            assert_eq!(mode.to_string(), label);
            assert_eq!(label.parse::<ExtractMode>(), Ok(mode));
            assert_eq!(serde_json::to_value(mode).unwrap(), label);
        }
        let e = "fast".parse::<ExtractMode>().unwrap_err().to_string();
        assert_eq!(e, "\"fast\" is not one of auto, structured, llm");
    }
}
