//! Who did something: the `actor` column of the audit trail.
//!
//! Library functions that change state take an [`Actor`] from their caller instead of naming one
//! themselves, so the same function called by the command line, by a staff member on the page or
//! by the scheduler is audited as what it was. The SQL form of each actor is the string the audit
//! trail has always stored (`cli`, `scheduler`, `mpi`, `demo`, or a staff member's username), so
//! older rows and newer rows read alike.
use std::fmt;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// Someone at the box's shell, through the `kadi` command.
    Cli,
    /// A staff member logged in to the page (their username).
    Staff(String),
    /// The automatic sync schedule of `kadi serve`.
    Scheduler,
    /// Automatic identity decisions of the Master Patient Index.
    Mpi,
    /// `kadi demo` setting up its own box.
    Demo,
}

impl Actor {
    /// Names that can never be a staff member's username, because they are other actors' SQL form.
    pub const RESERVED: [&'static str; 4] = ["cli", "scheduler", "mpi", "demo"];

    /// The form stored in the `actor` column.
    pub fn as_str(&self) -> &str {
        match self {
            Actor::Cli => "cli",
            Actor::Staff(name) => name,
            Actor::Scheduler => "scheduler",
            Actor::Mpi => "mpi",
            Actor::Demo => "demo",
        }
    }

    /// Reads a stored `actor` value back (anything that is not a reserved name is a staff member).
    pub fn from_sql(s: &str) -> Actor {
        match s {
            "cli" => Actor::Cli,
            "scheduler" => Actor::Scheduler,
            "mpi" => Actor::Mpi,
            "demo" => Actor::Demo,
            other => Actor::Staff(other.to_string()),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_reads_back_from_its_sql_form() {
        for a in [
            Actor::Cli,
            Actor::Scheduler,
            Actor::Mpi,
            Actor::Demo,
            Actor::Staff("awa".into()),
        ] {
            assert_eq!(Actor::from_sql(a.as_str()), a);
        }
        for name in Actor::RESERVED {
            assert!(!matches!(Actor::from_sql(name), Actor::Staff(_)), "{name}");
        }
    }
}
