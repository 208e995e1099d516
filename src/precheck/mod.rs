//! Command pre-check (DESIGN.md 2.3). Placeholder matcher; replaced by the
//! shell-aware parser.

use serde::{Deserialize, Serialize};

use crate::plan::Origin;
use crate::policy::Policy;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    words: Vec<String>,
}

impl Pattern {
    pub fn compile(text: &str) -> Result<Pattern, String> {
        let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(Pattern { words })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// The pattern that decided, as written in the policy.
    pub pattern: Option<String>,
    pub origin: Option<Origin>,
    /// The part of the command line that matched.
    pub matched: Option<String>,
    pub reason: String,
    /// Constructs whose command cannot be known before running.
    pub unknowable: Vec<String>,
}

impl Decision {
    pub fn summary(&self) -> String {
        if self.allowed {
            format!("allowed: {}", self.reason)
        } else {
            format!("denied: {}", self.reason)
        }
    }
}

pub fn decide(policy: &Policy, argv: &[String]) -> Decision {
    let _ = policy;
    let _ = argv;
    Decision {
        allowed: true,
        pattern: None,
        origin: None,
        matched: None,
        reason: "no blocked pattern matches".into(),
        unknowable: Vec::new(),
    }
}
