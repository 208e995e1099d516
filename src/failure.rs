//! Why sandboxctl refused or failed, and how each case is shown and coded
//! (DESIGN.md section 1). `main` maps these to exit codes and nothing else
//! does.

use crate::integrity::IntegrityError;
use crate::plan::PlanError;
use crate::policy::PolicyError;
use crate::precheck::Decision;

#[derive(Debug)]
pub enum Failure {
    Policy(PolicyError),
    Plan(PlanError),
    /// A layer could not be applied, or setup failed. `code` is 125, or
    /// 126/127 when the command could not be executed or found.
    Setup {
        layer: String,
        message: String,
        fix: String,
        code: u8,
    },
    Integrity(IntegrityError),
    /// The pre-check denied the command.
    Denied(Box<Decision>),
}

impl From<PolicyError> for Failure {
    fn from(e: PolicyError) -> Self {
        Failure::Policy(e)
    }
}
impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        Failure::Plan(e)
    }
}
impl From<IntegrityError> for Failure {
    fn from(e: IntegrityError) -> Self {
        Failure::Integrity(e)
    }
}

impl Failure {
    pub fn setup(layer: &str, message: impl Into<String>, fix: impl Into<String>) -> Failure {
        Failure::Setup {
            layer: layer.into(),
            message: message.into(),
            fix: fix.into(),
            code: 125,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Setup { code, .. } => *code,
            Failure::Denied(_) => 126,
            _ => 125,
        }
    }

    /// The one line every refusal prints.
    pub fn line(&self) -> String {
        match self {
            Failure::Policy(e) => format!("sandboxctl: error: policy: {e}"),
            Failure::Plan(e) => match &e.origin {
                crate::plan::Origin::CommandLine { .. } => {
                    format!("sandboxctl: error: command line: {}", e.message)
                }
                _ => format!("sandboxctl: error: policy: {e}"),
            },
            Failure::Setup {
                layer,
                message,
                fix,
                ..
            } => {
                if fix.is_empty() {
                    format!("sandboxctl: error: {layer}: {message}")
                } else {
                    format!("sandboxctl: error: {layer}: {message}; to fix: {fix}")
                }
            }
            Failure::Integrity(e) => format!("sandboxctl: error: integrity: {e}"),
            Failure::Denied(d) => format!("sandboxctl: denied: exec: {}", d.reason),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let kind = if matches!(self, Failure::Denied(_)) {
            "denied"
        } else {
            "error"
        };
        let mut v = serde_json::json!({
            "sandboxctl": kind,
            "exit_code": self.exit_code(),
            "message": self.line(),
        });
        match self {
            Failure::Policy(e) => {
                v["layer"] = "policy".into();
                v["file"] = e.file.clone().into();
                v["line"] = e.line.into();
                v["col"] = e.col.into();
            }
            Failure::Plan(e) => {
                v["layer"] = "policy".into();
                v["origin"] = serde_json::to_value(&e.origin).unwrap_or_default();
            }
            Failure::Setup { layer, fix, .. } => {
                v["layer"] = layer.clone().into();
                v["fix"] = fix.clone().into();
            }
            Failure::Integrity(_) => v["layer"] = "integrity".into(),
            Failure::Denied(d) => {
                v["layer"] = "exec".into();
                v["decision"] = serde_json::to_value(d).unwrap_or_default();
            }
        }
        v
    }
}
