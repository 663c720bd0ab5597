//! Errors of configuration and of batch writes.

/// A configuration value that cannot be used. Each variant names the
/// variable (or setting), the value seen and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A switch that is not one of `true/false/1/0/yes/no/on/off`.
    #[error("{var}={value:?} is not a boolean; allowed: true, false, 1, 0, yes, no, on, off")]
    InvalidBool {
        /// The variable or setting.
        var: &'static str,
        /// The value seen.
        value: String,
    },
    /// A number that does not parse as a whole number.
    #[error("{var}={value:?} is not a whole number; allowed range {min}-{max}")]
    NotANumber {
        /// The variable or setting.
        var: &'static str,
        /// The value seen.
        value: String,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
    /// A number outside its allowed range.
    #[error("{var}={value} is out of range; allowed range {min}-{max}")]
    OutOfRange {
        /// The variable or setting.
        var: &'static str,
        /// The value seen.
        value: String,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
    /// A variable whose value is not valid UTF-8.
    #[error("{var}={value:?} is not valid UTF-8")]
    NotUnicode {
        /// The variable.
        var: &'static str,
        /// The value seen, lossily converted.
        value: String,
    },
    /// Two settings that contradict each other.
    #[error("invalid settings: {0}")]
    Inconsistent(String),
}
